/* facefit's native batched matrix product: out[s] = a[s] @ b[s] for a stack of small matrices.
 *
 * The photometric Jacobian multiplies, for each of ~1000 sample vertices, a (3, 3R) block of
 * chain-rule coefficients by the (3R, K) basis rows of the vertex's one-ring: 1069 products of
 * 3x30 by 30x153 for the default model. NumPy's matmul calls BLAS once per matrix there, and
 * the per-call overhead dominates (5.8 ms on 2 AMD EPYC cores); this loop streams the stack of
 * b once, reusing each row of b for every row of a while it is in L1 (3.0 ms).
 *
 * matmul(a, b, out, count, rows, inner, columns)
 *   a    (count, rows, inner)    float64 or float32, C-contiguous
 *   b    (count, inner, columns) same dtype, C-contiguous
 *   out  (count, rows, columns)  same dtype, C-contiguous, overwritten
 *
 * gathered(a, index, b, out, count, rows, slots, width, columns, n, stride, offset): the same
 * product with the stack of b gathered on the fly, out[s] = a[s] @ concat_r(b[index[s, r]]):
 *   a     (count, rows, slots * width)
 *   index (count, slots) int64 into the first axis of b
 *   b     (n, width, columns)
 *   out   (count, rows, stride): the product goes to columns offset .. offset + columns - 1
 *         of each row (the photometric Jacobian's shape block, written in place), the rest
 *         is left as it is
 * The photometric Jacobian's ring basis is the shape basis rows of each sample's one-ring;
 * gathering them here reads the (U, 3, K) rows of the vertices in use (18 MB for the default
 * model) instead of a (1069, 30, 153) copy (39 MB) that had to be built, and first touched,
 * for every fit. Sums run in the same order as matmul's, so the results are bit-identical.
 * With three rows each basis row is loaded once for the three, and an AVX2 clone is chosen
 * where the CPU has it: 6.4 -> 4.3 ms for the default model (bit-identical, tested).
 * Columns of a whose weights are all zero are skipped: the rings are padded to the largest
 * (R = 10 slots, 7 used on average), and out starts at +0, to which adding a product with a
 * zero weight (+0 or -0, the basis being finite) changes no bit.
 *
 * convolve(image, out, weights, rows, columns, channels, taps, axis): a 1-D convolution of
 * an (rows, columns, channels) C-contiguous float64 or float32 image along axis 0 or 1 with
 * edge replication, out[i] = sum_k weights[k] * image[clamp(i + k - taps / 2)], the terms
 * added in the order of k to the first one: the Gaussian blur of the photometric term's
 * coarse rounds. The array-API loop (facefit.sampling.gaussian_blur) makes two full-size
 * temporaries per tap, 24 ms per 2-pixel blur of a 300-W face's crop; this reads each line
 * once. Every product and sum is the array-API loop's (the float32 weights rounded from the
 * float64 ones, as NumPy rounds a Python float against float32), so it is bit-identical. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define DEFINE_MATMUL(NAME, T)                                                                \
    static void NAME(const T *a, const T *b, T *out, Py_ssize_t count, Py_ssize_t rows,       \
                     Py_ssize_t inner, Py_ssize_t columns)                                    \
    {                                                                                         \
        for (Py_ssize_t s = 0; s < count; ++s) {                                              \
            const T *as = a + s * rows * inner;                                               \
            const T *bs = b + s * inner * columns;                                            \
            T *os = out + s * rows * columns;                                                 \
            memset(os, 0, sizeof(T) * (size_t)(rows * columns));                              \
            for (Py_ssize_t j = 0; j < inner; ++j) {                                          \
                const T *brow = bs + j * columns;                                             \
                for (Py_ssize_t r = 0; r < rows; ++r) {                                       \
                    const T w = as[r * inner + j];                                            \
                    T *orow = os + r * columns;                                               \
                    for (Py_ssize_t q = 0; q < columns; ++q)                                  \
                        orow[q] += w * brow[q];                                               \
                }                                                                             \
            }                                                                                 \
        }                                                                                     \
    }

DEFINE_MATMUL(matmul_double, double)
DEFINE_MATMUL(matmul_float, float)

/* Built twice on x86-64 with GCC or Clang (AVX2 and baseline), chosen at load time by the CPU:
 * AVX2 has no fused multiply-add (FMA is a separate target) and contraction is off, so both
 * clones round every product and sum exactly as the scalar loop does. Elsewhere (another
 * compiler, CPU or C library) the plain loop is built alone. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && defined(__linux__) \
    && defined(__GLIBC__) /* target_clones needs the loader's ifunc: glibc, not musl */
#define FACEFIT_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define FACEFIT_CLONES
#endif

/* Each element of out[s] sums its terms in the order of j, as matmul does; with three rows
 * (the photometric Jacobian's colour channels) a row of b is read once for all three. */
#define DEFINE_GATHERED(NAME, T)                                                              \
    FACEFIT_CLONES                                                                            \
    static void NAME(const T *a, const long long *index, const T *b, T *out, Py_ssize_t count,\
                     Py_ssize_t rows, Py_ssize_t slots, Py_ssize_t width, Py_ssize_t columns, \
                     Py_ssize_t stride)                                                       \
    {                                                                                         \
        const Py_ssize_t inner = slots * width;                                               \
        for (Py_ssize_t s = 0; s < count; ++s) {                                              \
            const T *as = a + s * rows * inner;                                               \
            T *os = out + s * rows * stride;                                                  \
            for (Py_ssize_t q = 0; q < rows; ++q)                                             \
                memset(os + q * stride, 0, sizeof(T) * (size_t)columns);                      \
            for (Py_ssize_t r = 0; r < slots; ++r) {                                          \
                const T *block = b + (Py_ssize_t)index[s * slots + r] * width * columns;      \
                for (Py_ssize_t c = 0; c < width; ++c) {                                      \
                    const Py_ssize_t j = r * width + c;                                       \
                    const T *brow = block + c * columns;                                      \
                    if (rows == 3) {                                                          \
                        const T w0 = as[j], w1 = as[inner + j], w2 = as[2 * inner + j];       \
                        if (w0 == 0 && w1 == 0 && w2 == 0)                                    \
                            continue; /* a padding slot: adding zeros changes no bit */       \
                        T *o0 = os, *o1 = os + stride, *o2 = os + 2 * stride;                 \
                        for (Py_ssize_t k = 0; k < columns; ++k) {                            \
                            const T v = brow[k];                                              \
                            o0[k] += w0 * v;                                                  \
                            o1[k] += w1 * v;                                                  \
                            o2[k] += w2 * v;                                                  \
                        }                                                                     \
                        continue;                                                             \
                    }                                                                         \
                    for (Py_ssize_t q = 0; q < rows; ++q) {                                   \
                        const T w = as[q * inner + j];                                        \
                        if (w == 0)                                                           \
                            continue;                                                         \
                        T *orow = os + q * stride;                                            \
                        for (Py_ssize_t k = 0; k < columns; ++k)                              \
                            orow[k] += w * brow[k];                                           \
                    }                                                                         \
                }                                                                             \
            }                                                                                 \
        }                                                                                     \
    }

DEFINE_GATHERED(gathered_double, double)
DEFINE_GATHERED(gathered_float, float)

/* Along axis 0 each output line is a weighted sum of whole input lines (columns * channels
 * contiguous values); along axis 1 each line is first copied with its edges replicated, then
 * summed as shifted windows of that copy. Either way out = w_0 * in_0, then += w_k * in_k. */
#define DEFINE_CONVOLVE(NAME, T)                                                              \
    static inline void NAME##_term(T *o, const T *in, T w, Py_ssize_t width, Py_ssize_t k)   \
    {                                                                                         \
        if (k == 0)                                                                           \
            for (Py_ssize_t q = 0; q < width; ++q)                                            \
                o[q] = w * in[q];                                                             \
        else                                                                                  \
            for (Py_ssize_t q = 0; q < width; ++q)                                            \
                o[q] += w * in[q];                                                            \
    }                                                                                         \
    FACEFIT_CLONES                                                                            \
    static void NAME(const T *image, T *out, const double *weights, T *line, Py_ssize_t rows, \
                     Py_ssize_t columns, Py_ssize_t channels, Py_ssize_t taps, int axis)      \
    {                                                                                         \
        const Py_ssize_t radius = taps / 2, width = columns * channels;                       \
        for (Py_ssize_t i = 0; i < rows; ++i) {                                               \
            T *o = out + i * width;                                                           \
            if (axis == 1) {                                                                  \
                const T *in = image + i * width;                                              \
                for (Py_ssize_t j = 0; j < columns + 2 * radius; ++j) {                       \
                    Py_ssize_t source = j - radius;                                           \
                    source = source < 0 ? 0 : (source >= columns ? columns - 1 : source);     \
                    memcpy(line + j * channels, in + source * channels,                      \
                           sizeof(T) * (size_t)channels);                                     \
                }                                                                             \
            }                                                                                 \
            for (Py_ssize_t k = 0; k < taps; ++k) {                                           \
                Py_ssize_t source = i + k - radius;                                           \
                source = source < 0 ? 0 : (source >= rows ? rows - 1 : source);               \
                const T *in = axis == 0 ? image + source * width : line + k * channels;       \
                NAME##_term(o, in, (T)weights[k], width, k);                                  \
            }                                                                                 \
        }                                                                                     \
    }

DEFINE_CONVOLVE(convolve_double, double)
DEFINE_CONVOLVE(convolve_float, float)

static int check(Py_buffer *buf, const char *name, Py_ssize_t itemsize, Py_ssize_t count)
{
    if (buf->itemsize != itemsize || buf->len != itemsize * count) {
        PyErr_Format(PyExc_ValueError, "batched matmul: %s has the wrong size or item size",
                     name);
        return 0;
    }
    return 1;
}

static PyObject *matmul(PyObject *self, PyObject *args)
{
    Py_buffer a, b, out;
    long long count, rows, inner, columns;
    PyObject *result = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*w*LLLL", &a, &b, &out, &count, &rows, &inner, &columns))
        return NULL;
    const Py_ssize_t itemsize = a.itemsize;
    if (itemsize != 8 && itemsize != 4) {
        PyErr_SetString(PyExc_ValueError, "batched matmul: a must be float64 or float32");
    } else if (count < 0 || rows < 0 || inner < 0 || columns < 0) {
        PyErr_SetString(PyExc_ValueError, "batched matmul: negative size");
    } else if (check(&a, "a", itemsize, count * rows * inner) &&
               check(&b, "b", itemsize, count * inner * columns) &&
               check(&out, "out", itemsize, count * rows * columns)) {
        Py_BEGIN_ALLOW_THREADS
        if (itemsize == 8)
            matmul_double(a.buf, b.buf, out.buf, count, rows, inner, columns);
        else
            matmul_float(a.buf, b.buf, out.buf, count, rows, inner, columns);
        Py_END_ALLOW_THREADS
        result = Py_None;
        Py_INCREF(result);
    }
    PyBuffer_Release(&a);
    PyBuffer_Release(&b);
    PyBuffer_Release(&out);
    return result;
}

static PyObject *gathered(PyObject *self, PyObject *args)
{
    Py_buffer a, index, b, out;
    long long count, rows, slots, width, columns, n, stride, offset;
    PyObject *result = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*y*w*LLLLLLLL", &a, &index, &b, &out, &count, &rows, &slots,
                          &width, &columns, &n, &stride, &offset))
        return NULL;
    const Py_ssize_t itemsize = a.itemsize;
    if (itemsize != 8 && itemsize != 4) {
        PyErr_SetString(PyExc_ValueError, "gathered matmul: a must be float64 or float32");
    } else if (count < 0 || rows < 0 || slots < 0 || width < 0 || columns < 0 || n < 0
               || offset < 0 || stride < offset + columns) {
        PyErr_SetString(PyExc_ValueError, "gathered matmul: negative size or a row of out "
                                          "shorter than its offset and columns");
    } else if (check(&a, "a", itemsize, count * rows * slots * width) &&
               check(&index, "index", sizeof(long long), count * slots) &&
               check(&b, "b", itemsize, n * width * columns) &&
               check(&out, "out", itemsize, count * rows * stride)) {
        const long long *ids = index.buf;
        int bad = 0;
        for (Py_ssize_t i = 0; i < count * slots; ++i)
            bad |= ids[i] < 0 || ids[i] >= n;
        if (bad) {
            PyErr_SetString(PyExc_IndexError, "gathered matmul: index out of range");
        } else {
            Py_BEGIN_ALLOW_THREADS
            if (itemsize == 8)
                gathered_double(a.buf, ids, b.buf, (double *)out.buf + offset, count, rows,
                                slots, width, columns, stride);
            else
                gathered_float(a.buf, ids, b.buf, (float *)out.buf + offset, count, rows, slots,
                               width, columns, stride);
            Py_END_ALLOW_THREADS
            result = Py_None;
            Py_INCREF(result);
        }
    }
    PyBuffer_Release(&a);
    PyBuffer_Release(&index);
    PyBuffer_Release(&b);
    PyBuffer_Release(&out);
    return result;
}

/* cholesky_solve(lower, rhs, n): overwrite rhs (n,) with the solution of L L^T x = rhs for the
 * (n, n) row-major lower-triangular Cholesky factor L: forward then back substitution. NumPy
 * has the factorisation but no triangular solve; this keeps SciPy (0.2 s to import) out of
 * a fit. Each x_i is one sum in a fixed order, so the result does not depend on threads. */
static PyObject *cholesky_solve(PyObject *self, PyObject *args)
{
    Py_buffer lower, rhs;
    long long n;
    PyObject *result = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*w*L", &lower, &rhs, &n))
        return NULL;
    if (n < 0 || !check(&lower, "lower", sizeof(double), n * n) ||
        !check(&rhs, "rhs", sizeof(double), n)) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "cholesky solve: negative size");
    } else {
        const double *L = lower.buf;
        double *x = rhs.buf;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < n; ++i) {  /* L y = b */
            double sum = x[i];
            for (Py_ssize_t k = 0; k < i; ++k)
                sum -= L[i * n + k] * x[k];
            x[i] = sum / L[i * n + i];
        }
        for (Py_ssize_t i = n - 1; i >= 0; --i) {  /* L^T x = y */
            double sum = x[i];
            for (Py_ssize_t k = i + 1; k < n; ++k)
                sum -= L[k * n + i] * x[k];
            x[i] = sum / L[i * n + i];
        }
        Py_END_ALLOW_THREADS
        result = Py_None;
        Py_INCREF(result);
    }
    PyBuffer_Release(&lower);
    PyBuffer_Release(&rhs);
    return result;
}

static PyObject *convolve(PyObject *self, PyObject *args)
{
    Py_buffer image, out, weights;
    long long rows, columns, channels, taps;
    int axis;
    PyObject *result = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*w*y*LLLLi", &image, &out, &weights, &rows, &columns,
                          &channels, &taps, &axis))
        return NULL;
    const Py_ssize_t itemsize = image.itemsize;
    if (itemsize != 8 && itemsize != 4) {
        PyErr_SetString(PyExc_ValueError, "convolve: image must be float64 or float32");
    } else if (rows < 1 || columns < 1 || channels < 1 || taps < 1 || taps % 2 == 0
               || (axis != 0 && axis != 1)) {
        PyErr_SetString(PyExc_ValueError, "convolve: empty image, an even number of taps or "
                                          "an axis other than 0 and 1");
    } else if (check(&image, "image", itemsize, rows * columns * channels) &&
               check(&out, "out", itemsize, rows * columns * channels) &&
               check(&weights, "weights", sizeof(double), taps)) {
        void *line = PyMem_RawMalloc((size_t)((columns + taps) * channels * itemsize));
        if (line == NULL) {
            PyErr_NoMemory();
        } else {
            Py_BEGIN_ALLOW_THREADS
            if (itemsize == 8)
                convolve_double(image.buf, out.buf, weights.buf, line, rows, columns, channels,
                                taps, axis);
            else
                convolve_float(image.buf, out.buf, weights.buf, line, rows, columns, channels,
                               taps, axis);
            Py_END_ALLOW_THREADS
            PyMem_RawFree(line);
            result = Py_None;
            Py_INCREF(result);
        }
    }
    PyBuffer_Release(&image);
    PyBuffer_Release(&out);
    PyBuffer_Release(&weights);
    return result;
}

static PyMethodDef methods[] = {
    {"matmul", matmul, METH_VARARGS,
     "matmul(a, b, out, count, rows, inner, columns): out[s] = a[s] @ b[s] for C-contiguous "
     "stacks of float64 or float32 matrices (see batched.c)."},
    {"gathered", gathered, METH_VARARGS,
     "gathered(a, index, b, out, count, rows, slots, width, columns, n): out[s] = a[s] @ "
     "concat_r(b[index[s, r]]) (see batched.c)."},
    {"convolve", convolve, METH_VARARGS,
     "convolve(image, out, weights, rows, columns, channels, taps, axis): 1-D convolution "
     "with edge replication along axis 0 or 1 (see batched.c)."},
    {"cholesky_solve", cholesky_solve, METH_VARARGS,
     "cholesky_solve(lower, rhs, n): solve L L^T x = rhs in place (see batched.c)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_batched", "facefit's native batched small matrix product.", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__batched(void) { return PyModule_Create(&module); }
