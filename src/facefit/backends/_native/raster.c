/* facefit's native z-buffer: the inner loop of facefit.render.rasterize as plain C.
 *
 * It sets up each triangle (edge functions in a canonical direction, bounding boxes, culling),
 * walks each triangle's box, tests pixel centres against the three edge functions and keeps the
 * nearest fragment per pixel. It evaluates exactly the expressions, in exactly the order, of the
 * array-API path in rasterize.py, so both give bit-identical results as long as the compiler
 * does not contract a*b + c into fused multiply-adds (setup.py passes -ffp-contract=off).
 *
 * Three functions, called in turn:
 *
 * setup(points, depth, triangles, batch, cull_back, height, width, coefficients, corner_depth,
 *       boxes) fills, for each (image b, triangle t) as row i = b * T + t:
 *   points        (B*V, 2) float64 or float32 image coordinates; depth (B*V,) same dtype
 *   triangles     (T, 3) int64 vertex ids
 *   coefficients  (B*T, 9) the edge functions, corner_depth (B*T, 3), boxes (B*T, 4) int64
 *   with box width 0 for culled, degenerate, off-image or non-finite triangles.
 *
 * zbuffer(coefficients, corner_depth, boxes, n_triangles, height, width, owner, depth) -> count
 *   coefficients  (N, 9) float64 or float32: a0 a1 a2 b0 b1 b2 c0 c1 c2 of E_k = a_k x + b_k y + c_k
 *   corner_depth  (N, 3) same dtype
 *   boxes         (N, 4) int64: xmin, ymin, box width, box height (width 0 = skip the triangle)
 *   n_triangles   triangles per image: triangle i belongs to image i / n_triangles
 *   owner         (B*H*W,) int64, filled with -1 by the caller; receives the winning triangle i
 *   depth         (B*H*W,) dtype; receives the winning fragment's depth
 *   returns the number of covered pixels.
 * A fragment replaces the stored one only if strictly nearer (larger depth), and triangles are
 * visited in increasing i, so at equal depth the smaller triangle index wins, as in rasterize.py.
 *
 * compact(coefficients, owner, depth, n_triangles, height, width, pixels, triangles,
 *         barycentrics, depth_out) writes the covered pixels in ascending order into buffers of `count` rows:
 *   flat pixel index, triangle (owner % n_triangles), barycentric weights (recomputed for the
 *   winner with the very same expressions) and depth; and replaces owner[p] by the pixel's row
 *   (-1 where uncovered), which the Python side keeps for placing per-pixel values in images.
 *
 * interpolate_into(attributes, channels, vertices_per_image, triangle_vertices, pixels, triangles,
 *                  barycentrics, plane, image) writes, for each covered pixel, the barycentric
 *   interpolation w0 a[v0] + w1 a[v1] + w2 a[v2] of the (B*V, C) attributes into row `pixel` of
 *   the (B*H*W, C) image (prefilled with the background by the caller): interpolate() and
 *   Rasterization.to_image() fused, with interpolate's order of operations.
 *
 * Buffers are passed through the buffer protocol; the GIL is released while looping.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>

/* The edge functions at a pixel centre and their sum, as rasterize.py evaluates them. */
#define EDGES(REAL, c, fx, fy)                                                                      \
    const REAL e0 = c[0] * fx + c[3] * fy + c[6];                                             \
    const REAL e1 = c[1] * fx + c[4] * fy + c[7];                                             \
    const REAL e2 = c[2] * fx + c[5] * fy + c[8];                                             \
    const REAL sum = e0 + e1 + e2;

/* IEEE ceil/floor/min/max/clip as the array-API path applies them to finite values. */
#define DEFINE_SETUP(SUFFIX, REAL, CEIL, FLOOR)                                               \
    static inline REAL min_##SUFFIX(REAL a, REAL b) { return b < a ? b : a; }                 \
    static inline REAL max_##SUFFIX(REAL a, REAL b) { return b > a ? b : a; }                 \
    static inline REAL clip_##SUFFIX(REAL v, REAL lo, REAL hi)                                \
    {                                                                                         \
        return min_##SUFFIX(max_##SUFFIX(v, lo), hi);                                         \
    }                                                                                         \
                                                                                              \
    static void setup_##SUFFIX(const REAL *pts, const REAL *z, Py_ssize_t n_points,           \
                               const int64_t *tri, Py_ssize_t n_tri, int64_t batch,           \
                               int cull_back, int64_t height, int64_t width, REAL *coef,      \
                               REAL *corner_z, int64_t *boxes)                                \
    {                                                                                         \
        const int64_t per_image = n_points / batch;                                           \
        for (int64_t b = 0; b < batch; ++b) {                                                 \
            for (Py_ssize_t t = 0; t < n_tri; ++t) {                                          \
                const Py_ssize_t i = b * n_tri + t;                                           \
                REAL *c = coef + 9 * i;                                                       \
                int64_t *box = boxes + 4 * i;                                                 \
                int64_t ids[3];                                                               \
                int valid = 1;                                                                \
                for (int k = 0; k < 3; ++k) {                                                 \
                    ids[k] = tri[3 * t + k] + b * per_image;                                  \
                    valid &= tri[3 * t + k] >= 0 && tri[3 * t + k] < per_image;               \
                }                                                                             \
                for (int k = 0; k < 9; ++k)                                                   \
                    c[k] = 0;                                                                 \
                box[0] = box[1] = box[2] = box[3] = 0;                                        \
                if (!valid) {                                                                 \
                    corner_z[3 * i] = corner_z[3 * i + 1] = corner_z[3 * i + 2] = 0;          \
                    continue;                                                                 \
                }                                                                             \
                const REAL x0 = pts[2 * ids[0]], y0 = pts[2 * ids[0] + 1];                    \
                const REAL x1 = pts[2 * ids[1]], y1 = pts[2 * ids[1] + 1];                    \
                const REAL x2 = pts[2 * ids[2]], y2 = pts[2 * ids[2] + 1];                    \
                for (int k = 0; k < 3; ++k)                                                   \
                    corner_z[3 * i + k] = z[ids[k]];                                          \
                const REAL area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0);              \
                const int keep = cull_back ? area < 0 : area != 0;                            \
                const REAL orientation = area < 0 ? (REAL)-1 : (REAL)1;                       \
                for (int k = 0; k < 3; ++k) {                                                 \
                    const int64_t u = ids[(k + 1) % 3], v = ids[(k + 2) % 3];                 \
                    const int forward = u < v;                                                \
                    const int64_t lo = forward ? u : v, hi = forward ? v : u;                 \
                    const REAL a = pts[2 * lo + 1] - pts[2 * hi + 1];                         \
                    const REAL bb = pts[2 * hi] - pts[2 * lo];                                \
                    const REAL cc = -(a * pts[2 * lo] + bb * pts[2 * lo + 1]);                \
                    const REAL sign = forward ? orientation : -orientation;                   \
                    c[k] = a * sign;                                                          \
                    c[3 + k] = bb * sign;                                                     \
                    c[6 + k] = cc * sign;                                                     \
                }                                                                             \
                const REAL xs[3] = {x0, x1, x2}, ys[3] = {y0, y1, y2};                        \
                int finite = 1;                                                               \
                for (int k = 0; k < 3; ++k)                                                   \
                    finite &= xs[k] == xs[k] && ys[k] == ys[k]; /* not NaN */                 \
                if (!keep || !finite)                                                         \
                    continue;                                                                 \
                const REAL fw = (REAL)width, fh = (REAL)height;                               \
                const REAL xmin = clip_##SUFFIX(CEIL(min_##SUFFIX(min_##SUFFIX(x0, x1), x2)), 0, fw); \
                const REAL xmax = clip_##SUFFIX(FLOOR(max_##SUFFIX(max_##SUFFIX(x0, x1), x2)), -1,   \
                                                fw - 1);                                      \
                const REAL ymin = clip_##SUFFIX(CEIL(min_##SUFFIX(min_##SUFFIX(y0, y1), y2)), 0, fh); \
                const REAL ymax = clip_##SUFFIX(FLOOR(max_##SUFFIX(max_##SUFFIX(y0, y1), y2)), -1,   \
                                                fh - 1);                                      \
                const REAL box_w = xmax - xmin + 1, box_h = ymax - ymin + 1;                  \
                if (!(box_w > 0 && box_h > 0))                                                \
                    continue;                                                                 \
                box[0] = (int64_t)xmin;                                                       \
                box[1] = (int64_t)ymin;                                                       \
                box[2] = (int64_t)box_w;                                                      \
                box[3] = (int64_t)box_h;                                                      \
            }                                                                                 \
        }                                                                                     \
    }

DEFINE_SETUP(double, double, ceil, floor)
DEFINE_SETUP(float, float, ceilf, floorf)

#define DEFINE_KERNELS(SUFFIX, REAL)                                                          \
    static Py_ssize_t zbuffer_##SUFFIX(const REAL *coef, const REAL *corner_z,                \
                                       const int64_t *boxes, Py_ssize_t n, int64_t n_tri,     \
                                       int64_t height, int64_t width, int64_t *owner,         \
                                       REAL *depth, Py_ssize_t pixels)                        \
    {                                                                                         \
        const int64_t plane = height * width;                                                 \
        for (Py_ssize_t i = 0; i < n; ++i) {                                                  \
            const int64_t *box = boxes + 4 * i;                                               \
            const int64_t x_lo = box[0], y_lo = box[1], box_w = box[2], box_h = box[3];       \
            if (box_w <= 0 || box_h <= 0)                                                     \
                continue;                                                                     \
            const REAL *c = coef + 9 * i;                                                     \
            const REAL *z = corner_z + 3 * i;                                                 \
            const int64_t base = (i / n_tri) * plane;                                         \
            for (int64_t y = y_lo; y < y_lo + box_h; ++y) {                                   \
                const REAL fy = (REAL)y;                                                      \
                for (int64_t x = x_lo; x < x_lo + box_w; ++x) {                               \
                    const REAL fx = (REAL)x;                                                  \
                    EDGES(REAL, c, fx, fy)                                                        \
                    if (!(e0 >= 0 && e1 >= 0 && e2 >= 0 && sum > 0))                          \
                        continue;                                                             \
                    const REAL frag_z = (e0 / sum) * z[0] + (e1 / sum) * z[1]                 \
                                        + (e2 / sum) * z[2];                                  \
                    const int64_t p = base + y * width + x;                                   \
                    if (owner[p] >= 0 && !(frag_z > depth[p]))                                \
                        continue;                                                             \
                    owner[p] = i;                                                             \
                    depth[p] = frag_z;                                                        \
                }                                                                             \
            }                                                                                 \
        }                                                                                     \
        Py_ssize_t count = 0;                                                                 \
        for (Py_ssize_t p = 0; p < pixels; ++p)                                               \
            count += owner[p] >= 0;                                                           \
        return count;                                                                         \
    }                                                                                         \
                                                                                              \
    static void compact_##SUFFIX(const REAL *coef, Py_ssize_t n, int64_t *owner,              \
                                 const REAL *depth, Py_ssize_t pixels, Py_ssize_t rows,       \
                                 int64_t n_tri, int64_t height,                               \
                                 int64_t width, int64_t *pixel_out, int64_t *tri_out,         \
                                 REAL *bary_out, REAL *depth_out)                             \
    {                                                                                         \
        int64_t row = 0, x = -1, y = 0;                                                       \
        for (Py_ssize_t p = 0; p < pixels; ++p) {                                             \
            if (++x == width) { /* walk (x, y) along with p instead of dividing */           \
                x = 0;                                                                        \
                if (++y == height)                                                            \
                    y = 0;                                                                    \
            }                                                                                 \
            const int64_t i = owner[p];                                                       \
            if (i < 0 || i >= n || row >= rows) /* (the last two: never, but memory-safe) */  \
                continue;                                                                     \
            const REAL fx = (REAL)x, fy = (REAL)y;                                            \
            const REAL *c = coef + 9 * i;                                                     \
            EDGES(REAL, c, fx, fy)                                                                \
            pixel_out[row] = p;                                                               \
            tri_out[row] = i % n_tri;                                                         \
            bary_out[3 * row] = e0 / sum;                                                     \
            bary_out[3 * row + 1] = e1 / sum;                                                 \
            bary_out[3 * row + 2] = e2 / sum;                                                 \
            depth_out[row] = depth[p];                                                        \
            owner[p] = row++;                                                                 \
        }                                                                                     \
    }

DEFINE_KERNELS(double, double)
DEFINE_KERNELS(float, float)

#define DEFINE_INTERPOLATE(SUFFIX, REAL)                                                      \
    static void interpolate_##SUFFIX(const REAL *attr, Py_ssize_t n_attr, int64_t channels,   \
                                     int64_t per_image, const int64_t *tri_vertices,          \
                                     Py_ssize_t n_tri, const int64_t *pixels,                 \
                                     const int64_t *triangles, const REAL *bary,              \
                                     Py_ssize_t rows, int64_t plane, REAL *image,             \
                                     Py_ssize_t n_image)                                      \
    {                                                                                         \
        for (Py_ssize_t r = 0; r < rows; ++r) {                                               \
            const int64_t p = pixels[r], t = triangles[r];                                    \
            if (p < 0 || p >= n_image || t < 0 || t >= n_tri)                                 \
                continue; /* never for a valid rasterization; keeps memory safe */            \
            const int64_t offset = (p / plane) * per_image;                                   \
            const int64_t v0 = tri_vertices[3 * t] + offset, v1 = tri_vertices[3 * t + 1]     \
                + offset, v2 = tri_vertices[3 * t + 2] + offset;                              \
            if (v0 < 0 || v0 >= n_attr || v1 < 0 || v1 >= n_attr || v2 < 0 || v2 >= n_attr)   \
                continue;                                                                     \
            const REAL w0 = bary[3 * r], w1 = bary[3 * r + 1], w2 = bary[3 * r + 2];          \
            for (int64_t c = 0; c < channels; ++c)                                            \
                image[p * channels + c] = w0 * attr[v0 * channels + c]                        \
                                          + w1 * attr[v1 * channels + c]                      \
                                          + w2 * attr[v2 * channels + c];                     \
        }                                                                                     \
    }

DEFINE_INTERPOLATE(double, double)
DEFINE_INTERPOLATE(float, float)

static int check(Py_buffer *buf, const char *name, Py_ssize_t itemsize, Py_ssize_t count)
{
    if (buf->itemsize != itemsize || buf->len != itemsize * count) {
        PyErr_Format(PyExc_ValueError, "raster: %s has the wrong size or item size", name);
        return 0;
    }
    return 1;
}

static PyObject *setup(PyObject *self, PyObject *args)
{
    Py_buffer pts, z, tri, coef, corner_z, boxes;
    long long batch, height, width;
    int cull_back;
    PyObject *result = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*y*LpLLw*w*w*", &pts, &z, &tri, &batch, &cull_back, &height,
                          &width, &coef, &corner_z, &boxes))
        return NULL;
    const Py_ssize_t itemsize = pts.itemsize;
    const Py_ssize_t n_points = pts.len / (2 * (itemsize > 0 ? itemsize : 1));
    const Py_ssize_t n_tri = tri.len / (3 * (Py_ssize_t)sizeof(int64_t));
    if (itemsize != 8 && itemsize != 4) {
        PyErr_SetString(PyExc_ValueError, "setup: points must be float64 or float32");
    } else if (batch <= 0 || height <= 0 || width <= 0 || n_points % batch != 0) {
        PyErr_SetString(PyExc_ValueError, "setup: inconsistent sizes");
    } else if (check(&pts, "points", itemsize, 2 * n_points) &&
               check(&z, "depth", itemsize, n_points) &&
               check(&tri, "triangles", (Py_ssize_t)sizeof(int64_t), 3 * n_tri) &&
               check(&coef, "coefficients", itemsize, 9 * batch * n_tri) &&
               check(&corner_z, "corner_depth", itemsize, 3 * batch * n_tri) &&
               check(&boxes, "boxes", (Py_ssize_t)sizeof(int64_t), 4 * batch * n_tri)) {
        Py_BEGIN_ALLOW_THREADS
        if (itemsize == 8)
            setup_double(pts.buf, z.buf, n_points, tri.buf, n_tri, batch, cull_back, height,
                         width, coef.buf, corner_z.buf, boxes.buf);
        else
            setup_float(pts.buf, z.buf, n_points, tri.buf, n_tri, batch, cull_back, height,
                        width, coef.buf, corner_z.buf, boxes.buf);
        Py_END_ALLOW_THREADS
        result = Py_None;
        Py_INCREF(result);
    }
    PyBuffer_Release(&pts);
    PyBuffer_Release(&z);
    PyBuffer_Release(&tri);
    PyBuffer_Release(&coef);
    PyBuffer_Release(&corner_z);
    PyBuffer_Release(&boxes);
    return result;
}

static PyObject *zbuffer(PyObject *self, PyObject *args)
{
    Py_buffer coef, corner_z, boxes, owner, depth;
    long long n_tri, height, width;
    PyObject *result = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*y*LLLw*w*", &coef, &corner_z, &boxes, &n_tri, &height,
                          &width, &owner, &depth))
        return NULL;
    const Py_ssize_t itemsize = coef.itemsize;
    const Py_ssize_t n = boxes.len / (4 * (Py_ssize_t)sizeof(int64_t));
    const Py_ssize_t pixels = owner.len / (Py_ssize_t)sizeof(int64_t);
    if (itemsize != 8 && itemsize != 4) {
        PyErr_SetString(PyExc_ValueError, "zbuffer: coefficients must be float64 or float32");
    } else if (n_tri <= 0 || height <= 0 || width <= 0 || pixels % (height * width) != 0 ||
               (n > 0 && (n - 1) / n_tri >= pixels / (height * width))) {
        PyErr_SetString(PyExc_ValueError, "zbuffer: inconsistent sizes");
    } else if (check(&coef, "coefficients", itemsize, 9 * n) &&
               check(&corner_z, "corner_depth", itemsize, 3 * n) &&
               check(&boxes, "boxes", (Py_ssize_t)sizeof(int64_t), 4 * n) &&
               check(&owner, "owner", (Py_ssize_t)sizeof(int64_t), pixels) &&
               check(&depth, "depth", itemsize, pixels)) {
        Py_ssize_t count;
        Py_BEGIN_ALLOW_THREADS
        if (itemsize == 8)
            count = zbuffer_double(coef.buf, corner_z.buf, boxes.buf, n, n_tri, height, width,
                                   owner.buf, depth.buf, pixels);
        else
            count = zbuffer_float(coef.buf, corner_z.buf, boxes.buf, n, n_tri, height, width,
                                  owner.buf, depth.buf, pixels);
        Py_END_ALLOW_THREADS
        result = PyLong_FromSsize_t(count);
    }
    PyBuffer_Release(&coef);
    PyBuffer_Release(&corner_z);
    PyBuffer_Release(&boxes);
    PyBuffer_Release(&owner);
    PyBuffer_Release(&depth);
    return result;
}

static PyObject *compact(PyObject *self, PyObject *args)
{
    Py_buffer coef, owner, depth, pixel_out, tri_out, bary_out, depth_out;
    long long n_tri, height, width;
    PyObject *result = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*w*y*LLLw*w*w*w*", &coef, &owner, &depth, &n_tri, &height,
                          &width, &pixel_out, &tri_out, &bary_out, &depth_out))
        return NULL;
    const Py_ssize_t itemsize = coef.itemsize;
    const Py_ssize_t pixels = owner.len / (Py_ssize_t)sizeof(int64_t);
    const Py_ssize_t rows = pixel_out.len / (Py_ssize_t)sizeof(int64_t);
    const Py_ssize_t n = coef.len / (9 * (itemsize > 0 ? itemsize : 1));
    if (itemsize != 8 && itemsize != 4) {
        PyErr_SetString(PyExc_ValueError, "compact: coefficients must be float64 or float32");
    } else if (n_tri <= 0 || height <= 0 || width <= 0 || pixels % (height * width) != 0) {
        PyErr_SetString(PyExc_ValueError, "compact: inconsistent sizes");
    } else if (check(&owner, "owner", (Py_ssize_t)sizeof(int64_t), pixels) &&
               check(&depth, "depth", itemsize, pixels) &&
               check(&tri_out, "triangles", (Py_ssize_t)sizeof(int64_t), rows) &&
               check(&bary_out, "barycentrics", itemsize, 3 * rows) &&
               check(&depth_out, "depth_out", itemsize, rows)) {
        /* The caller passes zbuffer's count as the number of rows; owner holds valid triangle
         * ids (zbuffer wrote them), so the coefficient rows read here exist. */
        Py_BEGIN_ALLOW_THREADS
        if (itemsize == 8)
            compact_double(coef.buf, n, owner.buf, depth.buf, pixels, rows, n_tri, height, width,
                           pixel_out.buf, tri_out.buf, bary_out.buf, depth_out.buf);
        else
            compact_float(coef.buf, n, owner.buf, depth.buf, pixels, rows, n_tri, height, width,
                          pixel_out.buf, tri_out.buf, bary_out.buf, depth_out.buf);
        Py_END_ALLOW_THREADS
        result = Py_None;
        Py_INCREF(result);
    }
    PyBuffer_Release(&coef);
    PyBuffer_Release(&owner);
    PyBuffer_Release(&depth);
    PyBuffer_Release(&pixel_out);
    PyBuffer_Release(&tri_out);
    PyBuffer_Release(&bary_out);
    PyBuffer_Release(&depth_out);
    return result;
}

static PyObject *interpolate_into(PyObject *self, PyObject *args)
{
    Py_buffer attr, tri_vertices, pixels, triangles, bary, image;
    long long channels, per_image, plane;
    PyObject *result = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*LLy*y*y*y*Lw*", &attr, &channels, &per_image, &tri_vertices,
                          &pixels, &triangles, &bary, &plane, &image))
        return NULL;
    const Py_ssize_t itemsize = attr.itemsize;
    const Py_ssize_t rows = pixels.len / (Py_ssize_t)sizeof(int64_t);
    const Py_ssize_t n_tri = tri_vertices.len / (3 * (Py_ssize_t)sizeof(int64_t));
    if (itemsize != 8 && itemsize != 4) {
        PyErr_SetString(PyExc_ValueError, "interpolate_into: attributes must be float64/32");
    } else if (channels <= 0 || plane <= 0 || attr.len % (itemsize * channels) != 0 ||
               image.len % (itemsize * channels) != 0) {
        PyErr_SetString(PyExc_ValueError, "interpolate_into: inconsistent sizes");
    } else if (check(&tri_vertices, "triangle_vertices", (Py_ssize_t)sizeof(int64_t), 3 * n_tri) &&
               check(&triangles, "triangles", (Py_ssize_t)sizeof(int64_t), rows) &&
               check(&bary, "barycentrics", itemsize, 3 * rows) &&
               check(&image, "image", itemsize, image.len / itemsize)) {
        const Py_ssize_t n_attr = attr.len / (itemsize * channels);
        const Py_ssize_t n_image = image.len / (itemsize * channels);
        Py_BEGIN_ALLOW_THREADS
        if (itemsize == 8)
            interpolate_double(attr.buf, n_attr, channels, per_image, tri_vertices.buf, n_tri,
                               pixels.buf, triangles.buf, bary.buf, rows, plane, image.buf,
                               n_image);
        else
            interpolate_float(attr.buf, n_attr, channels, per_image, tri_vertices.buf, n_tri,
                              pixels.buf, triangles.buf, bary.buf, rows, plane, image.buf,
                              n_image);
        Py_END_ALLOW_THREADS
        result = Py_None;
        Py_INCREF(result);
    }
    PyBuffer_Release(&attr);
    PyBuffer_Release(&tri_vertices);
    PyBuffer_Release(&pixels);
    PyBuffer_Release(&triangles);
    PyBuffer_Release(&bary);
    PyBuffer_Release(&image);
    return result;
}

static PyMethodDef methods[] = {
    {"setup", setup, METH_VARARGS,
     "setup(points, depth, triangles, batch, cull_back, height, width, coefficients, "
     "corner_depth, boxes): edge functions and boxes of every triangle (see raster.c)."},
    {"zbuffer", zbuffer, METH_VARARGS,
     "zbuffer(coefficients, corner_depth, boxes, n_triangles, height, width, owner, depth) "
     "-> count: rasterize triangle boxes into a z-buffer (see raster.c)."},
    {"compact", compact, METH_VARARGS,
     "compact(coefficients, owner, depth, n_triangles, height, width, pixels, triangles, "
     "barycentrics, depth_out): the covered pixels in order (see raster.c)."},
    {"interpolate_into", interpolate_into, METH_VARARGS,
     "interpolate_into(attributes, channels, vertices_per_image, triangle_vertices, pixels, "
     "triangles, barycentrics, plane, image): interpolate into an image (see raster.c)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_raster", "facefit's native z-buffer (see raster.c).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__raster(void) { return PyModule_Create(&module); }
