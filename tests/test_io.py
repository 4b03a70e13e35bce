"""File input and output: images, landmarks and meshes (round trips, formats, and bad input)."""

from __future__ import annotations

import io
import json
import re
import struct
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from facefit.errors import FacefitError, ImageError, LandmarkError, MeshError
from facefit.io import (
    load_mesh,
    read_image,
    read_landmarks,
    save_mesh,
    validate_landmarks,
    write_image,
    write_landmarks,
)

from .conftest import floats


def _leftovers(folder: Path) -> list[str]:
    """Temporary files an atomic write may have left behind."""
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def _pts_text(points: list[tuple[float, float]], header: int | None = None) -> str:
    count = len(points) if header is None else header
    body = "".join(f"{x} {y}\n" for x, y in points)
    return f"version: 1\nn_points: {count}\n{{\n{body}}}\n"


def _grid(n: int = 68) -> np.ndarray:
    """(n, 2) distinct 0-based points with fractional parts."""
    i = np.arange(n, dtype=np.float64)
    return np.stack([10.25 + 3.0 * i, 200.5 - 2.0 * i], axis=1)


# --------------------------------------------------------------------------------------------
# images


@given(hnp.arrays(np.uint8, st.tuples(st.integers(1, 9), st.integers(1, 9), st.just(3))))
def test_png_round_trip_is_exact_for_uint8(tmp_path: Path, pixels: np.ndarray) -> None:
    path = tmp_path / "image.png"
    write_image(path, pixels)
    back = read_image(path)
    assert back.shape == pixels.shape and back.dtype == np.float64
    np.testing.assert_array_equal(np.rint(back * 255.0).astype(np.uint8), pixels)
    write_image(path, pixels / 255.0)  # floats are rounded to the same bytes
    np.testing.assert_array_equal(read_image(path), pixels / 255.0)
    write_image(path, pixels, compress_level=1, run_length=True)  # the fit outputs' setting
    np.testing.assert_array_equal(read_image(path), pixels / 255.0)
    assert _leftovers(tmp_path) == []


def test_write_image_clips_floats_and_writes_grey_and_jpeg(tmp_path: Path) -> None:
    values = np.array([[-0.5, 0.25], [1.0, 7.0]])
    write_image(tmp_path / "grey.png", values)
    back = read_image(tmp_path / "grey.png")
    assert back.shape == (2, 2, 3)
    np.testing.assert_array_equal(back[..., 0], np.array([[0, 64], [255, 255]]) / 255.0)
    np.testing.assert_array_equal(back[..., 0], back[..., 2])
    photo = np.full((16, 16, 3), 0.5)
    write_image(tmp_path / "photo.JPG", photo)
    np.testing.assert_allclose(read_image(tmp_path / "photo.JPG"), photo, atol=3 / 255)


def test_write_image_replaces_existing_file_atomically(tmp_path: Path) -> None:
    path = tmp_path / "out.png"
    write_image(path, np.zeros((3, 4, 3)))
    write_image(path, np.ones((5, 2, 3)))
    assert read_image(path).shape == (5, 2, 3)
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("mode", "data", "expected"),
    [
        ("L", np.array([[0, 51], [255, 102]], np.uint8), np.array([[0, 0.2], [1, 0.4]])),
        ("LA", np.array([[[51, 0], [255, 255]]], np.uint8), np.array([[0.2, 1.0]])),
        ("RGBA", np.array([[[255, 0, 51, 0]]], np.uint8), None),
        ("I;16", np.array([[0, 65535], [13107, 65535]], np.uint16),
         np.array([[0, 1], [0.2, 1]])),
    ],
)
def test_read_image_converts_modes_to_rgb(
    tmp_path: Path, mode: str, data: np.ndarray, expected: np.ndarray | None
) -> None:
    path = tmp_path / f"{mode.replace(';', '_')}.png"
    made = Image.fromarray(data)
    assert made.mode == mode
    made.save(path)
    image = read_image(path)
    assert image.shape == (*data.shape[:2], 3) and image.dtype == np.float64
    assert image.min() >= 0.0 and image.max() <= 1.0
    if expected is None:  # RGBA: alpha dropped, colour kept
        np.testing.assert_allclose(image[0, 0], [1.0, 0.0, 0.2])
    else:
        for channel in range(3):
            np.testing.assert_allclose(image[..., channel], expected)


def test_read_image_16_bit_int_mode_and_palette(tmp_path: Path) -> None:
    deep = Image.fromarray(np.array([[0, 32768, 65535]], np.int32))
    assert deep.mode == "I"
    deep.save(tmp_path / "deep.tif")  # Pillow writes mode I as TIFF, not PNG
    np.testing.assert_allclose(read_image(tmp_path / "deep.tif")[0, :, 1],
                               [0.0, 32768 / 65535, 1.0])
    palette = Image.new("P", (3, 2))
    palette.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    palette.putpixel((1, 0), 1)
    palette.save(tmp_path / "palette.png")
    image = read_image(tmp_path / "palette.png")
    assert image.shape == (2, 3, 3)
    np.testing.assert_array_equal(image[0, 0], [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(image[0, 1], [0.0, 1.0, 0.0])
    Image.new("1", (4, 3), 1).save(tmp_path / "bits.png")
    np.testing.assert_array_equal(read_image(tmp_path / "bits.png"), np.ones((3, 4, 3)))


def test_read_image_applies_exif_orientation(tmp_path: Path) -> None:
    pixels = np.zeros((16, 32, 3), np.uint8)  # 32 wide, 16 high: left red, right blue
    pixels[:, :16, 0] = 255
    pixels[:, 16:, 2] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed after rotating 90 degrees clockwise
    Image.fromarray(pixels).save(tmp_path / "rotated.jpg", exif=exif.tobytes(), quality=95)
    image = read_image(tmp_path / "rotated.jpg")
    assert image.shape == (32, 16, 3)
    top, bottom = image[2:12].mean(axis=(0, 1)), image[20:30].mean(axis=(0, 1))
    assert top[0] > 0.9 and top[2] < 0.1  # the left (red) half is now on top
    assert bottom[2] > 0.9 and bottom[0] < 0.1


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.array([[0, 255]], np.uint8), np.array([[0.0, 1.0]])),
        (np.array([[0, 65535]], np.uint16), np.array([[0.0, 1.0]])),
        (np.array([[0.0, 0.5]], np.float32), np.array([[0.0, 0.5]])),
        (np.array([[[0, 0, 0, 9], [255, 255, 255, 9]]], np.uint8), np.array([[0.0, 1.0]])),
    ],
)
def test_read_image_accepts_arrays(array: np.ndarray, expected: np.ndarray) -> None:
    image = read_image(array)
    assert image.shape == (*array.shape[:2], 3) and image.dtype == np.float64
    np.testing.assert_allclose(image[..., 1], expected)
    assert image is not array


@pytest.mark.parametrize(
    ("array", "problem"),
    [
        (np.array([[0.0, 1.5]]), r"\[0, 1\]"),
        (np.array([[0.0, -0.1]]), r"\[0, 1\]"),
        (np.array([[np.nan, 0.5]]), "NaN"),
        (np.zeros((2, 2), np.int32), "dtype"),
        (np.zeros((2, 2, 5), np.uint8), "shape"),
        (np.zeros(4, np.uint8), "shape"),
        (np.zeros((0, 3, 3), np.uint8), "empty"),
    ],
)
def test_read_image_rejects_bad_arrays(array: np.ndarray, problem: str) -> None:
    with pytest.raises(ImageError, match=f"image array: .*{problem}"):
        read_image(array)


def _png_bytes(height: int = 64, width: int = 64) -> bytes:
    buffer = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(noise).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "no such file"),
        (b"", "cannot be read"),
        (b"this is not an image at all", "cannot be read"),
        (_png_bytes()[: len(_png_bytes()) // 2], "cannot be read"),
        (_png_bytes()[:-200], "cannot be read"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "cannot be read"),
    ],
    ids=["missing", "empty", "garbage", "half", "truncated", "bad-header"],
)
def test_read_image_bad_files_raise_image_error(
    tmp_path: Path, content: bytes | None, problem: str
) -> None:
    path = tmp_path / "broken.png"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ImageError, match=f"image '.*broken.png': {problem}"):
        read_image(path)


def test_read_image_directory_and_write_errors(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="is a directory"):
        read_image(tmp_path)
    with pytest.raises(ImageError, match=r"'.*out\.gif': unknown suffix"):
        write_image(tmp_path / "out.gif", np.zeros((2, 2, 3)))
    with pytest.raises(ImageError, match=r"out\.png': cannot be written"):
        write_image(tmp_path / "missing" / "out.png", np.zeros((2, 2, 3)))
    with pytest.raises(ImageError, match="shape"):
        write_image(tmp_path / "out.png", np.zeros((2, 2, 4)))
    with pytest.raises(ImageError, match="NaN"):
        write_image(tmp_path / "out.png", np.full((2, 2), np.nan))
    with pytest.raises(ImageError, match="dtype"):
        write_image(tmp_path / "out.png", np.zeros((2, 2), np.int64))
    assert isinstance(ImageError("x"), FacefitError)


# --------------------------------------------------------------------------------------------
# landmarks


def test_pts_is_one_based_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "hand.pts"
    path.write_text(_pts_text([(1, 1), (11.5, 21.25), (3, 2)]))
    points = read_landmarks(path, n_points=3)
    np.testing.assert_array_equal(points, [[0, 0], [10.5, 20.25], [2, 1]])
    assert points.dtype == np.float64


def test_pts_tolerates_crlf_blank_lines_missing_version_and_nan(tmp_path: Path) -> None:
    path = tmp_path / "loose.pts"
    path.write_bytes(b"\r\nn_points:  3\r\n\r\n{\r\n1 2\r\n\r\nnan nan\r\n  5,6  \r\n}\r\n\r\n")
    points = read_landmarks(path, n_points=3)
    np.testing.assert_array_equal(points[[0, 2]], [[0, 1], [4, 5]])
    assert np.isnan(points[1]).all()
    bare = tmp_path / "bare.pts"
    bare.write_text("1 1\n2 2\n3 3\n")
    np.testing.assert_array_equal(read_landmarks(bare, n_points=None), [[0, 0], [1, 1], [2, 2]])


points_with_gaps = hnp.arrays(
    np.float64, st.tuples(st.integers(3, 80), st.just(2)),
    elements=st.one_of(floats(-100.0, 4000.0), st.just(np.nan)),
).filter(lambda p: not np.isnan(p).all())


@given(points_with_gaps)
def test_pts_and_ljson_round_trips(tmp_path: Path, points: np.ndarray) -> None:
    for suffix, atol in ((".pts", 5e-7), (".ljson", 0.0)):
        path = tmp_path / f"round{suffix}"
        write_landmarks(path, points)
        back = read_landmarks(path, n_points=len(points))
        assert back.shape == points.shape
        np.testing.assert_allclose(back, points, rtol=0, atol=atol, equal_nan=True)
    assert _leftovers(tmp_path) == []


def test_written_pts_layout(tmp_path: Path) -> None:
    path = tmp_path / "out.pts"
    write_landmarks(path, np.array([[0.0, 0.0], [np.nan, np.nan], [9.5, 1.25]]))
    assert path.read_text() == (
        "version: 1\nn_points: 3\n{\n1.000000 1.000000\nnan nan\n10.500000 2.250000\n}\n"
    )


def test_ljson_is_y_x_and_null_means_missing(tmp_path: Path) -> None:
    path = tmp_path / "menpo.ljson"
    write_landmarks(path, np.array([[1.0, 2.0], [np.nan, np.nan], [3.0, 4.0]]))
    document = json.loads(path.read_text())
    assert document["landmarks"]["points"] == [[2.0, 1.0], [None, None], [4.0, 3.0]]
    v2 = {"version": 2, "labels": [], "landmarks": {"points": [[5, 6], None, [7, 8]]}}
    path.write_text(json.dumps(v2))
    points = read_landmarks(path, n_points=None)
    np.testing.assert_array_equal(points[[0, 2]], [[6, 5], [8, 7]])
    assert np.isnan(points[1]).all()
    v1 = {"version": 1, "groups": [
        {"label": "a", "landmarks": [{"point": [1, 2]}, {"point": [3, 4]}]},
        {"label": "b", "landmarks": [{"point": [None, None]}]},
    ]}
    path.write_text(json.dumps(v1))
    np.testing.assert_array_equal(read_landmarks(path, n_points=None)[:2], [[2, 1], [4, 3]])
    v3 = {"version": 3, "groups": {
        "few": {"landmarks": {"points": [[0, 0]]}},
        "face": {"landmarks": {"points": [[1, 2], [3, 4]]}},
    }}
    path.write_text(json.dumps(v3))
    np.testing.assert_array_equal(read_landmarks(path, n_points=2), [[2, 1], [4, 3]])


DLIB_XML = """<?xml version='1.0' encoding='ISO-8859-1'?>
<?xml-stylesheet type='text/xsl' href='image_metadata_stylesheet.xsl'?>
<dataset>
<name>Training faces</name>
<images>
  <image file='faces/first.jpg'>
    <box top='10' left='20' width='100' height='100'>
      <part name='00' x='21' y='31'/>
      <part name='01' x='22' y='32'/>
      <part name='03' x='24' y='34'/>
    </box>
    <box top='0' left='0' width='5' height='5'>
      <part name='00' x='1' y='1'/>
    </box>
  </image>
  <image file='faces/second.jpg'>
    <box top='10' left='20' width='100' height='100'>
      <part name='1' x='50' y='60'/>
      <part name='0' x='40' y='45'/>
      <part name='2' x='70' y='80'/>
    </box>
  </image>
</images>
</dataset>
"""


def test_dlib_xml_first_image_and_selected_image(tmp_path: Path) -> None:
    path = tmp_path / "training.xml"
    path.write_text(DLIB_XML, encoding="latin-1")
    first = read_landmarks(path, n_points=4)
    np.testing.assert_array_equal(first[[0, 1, 3]], [[21, 31], [22, 32], [24, 34]])
    assert np.isnan(first[2]).all()  # part 02 is absent
    assert read_landmarks(path, n_points=None).shape == (4, 2)
    second = read_landmarks(path, n_points=3, image="second.jpg")
    np.testing.assert_array_equal(second, [[40, 45], [50, 60], [70, 80]])
    np.testing.assert_array_equal(read_landmarks(path, n_points=3, image="faces/second.jpg"),
                                  second)
    with pytest.raises(LandmarkError, match=r"training\.xml': has no image named 'third"):
        read_landmarks(path, n_points=3, image="third.jpg")
    with pytest.raises(LandmarkError, match="expected 2 points, found part 3"):
        read_landmarks(path, n_points=2)


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("a.pts", _pts_text([(1, 2)] * 67), "expected 68 points, found 67$"),
        ("a.pts", _pts_text([(1, 2)] * 67, header=68),
         r"expected 68 points, found 67 \(its header says 68\)"),
        ("a.pts", _pts_text([(1, 2)] * 68, header=67),
         "n_points header says 67 but the file lists 68 points"),
        ("a.pts", _pts_text([(1, 2)] * 67 + [(1, "x1")]), "malformed number 'x1' on line 71"),
        ("a.pts", _pts_text([(1, 2)] * 67 + [(1, "2 3")]), "expected two numbers"),
        ("a.pts", "version: 1\nn_points: 68\n{\n1 2\n", "no closing '}'"),
        ("a.pts", "version: 1\nn_points: lots\n{\n}\n", "malformed n_points"),
        ("a.pts", "", "is empty"),
        ("a.pts", "  \n\n", "is empty"),
        ("a.pts", _pts_text([("nan", "nan")] * 68), r"no valid point \(all are NaN\)"),
        ("a.pts", _pts_text([(1, 2)] * 67 + [("inf", 2)]), "infinite"),
        ("a.ljson", "{not json", "not valid JSON"),
        ("a.ljson", json.dumps({"points": []}), "no landmarks.points"),
        ("a.ljson", json.dumps({"landmarks": {"points": [[1, "a"]] * 68}}), "malformed number"),
        ("a.ljson", json.dumps({"landmarks": {"points": [[1, 2, 3]] * 68}}), r"\[y, x\] pair"),
        ("a.ljson", "", "is empty"),
        ("a.xml", "<dataset><images><image", "not valid XML"),
        ("a.xml", "<dataset><images/></dataset>", "no <image>"),
        ("a.xml", "<dataset><images><image file='x'/></images></dataset>", "no <box>"),
        ("a.xml", "<dataset><images><image file='x'><box><part name='a' x='1' y='2'/>"
         "</box></image></images></dataset>", "not a point index"),
        ("a.xml", "<dataset><images><image file='x'><box><part name='0' x='1' y='z'/>"
         "</box></image></images></dataset>", "malformed number 'z'"),
        ("a.txt", "1 2\n", "unknown suffix '.txt'"),
    ],
)
def test_bad_landmark_files_raise_landmark_error(
    tmp_path: Path, name: str, content: str, problem: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(LandmarkError, match=f"landmarks '.*{re.escape(name)}': .*{problem}"):
        read_landmarks(path)


def test_landmark_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(LandmarkError, match=r"landmarks '.*nowhere\.pts': no such file"):
        read_landmarks(tmp_path / "nowhere.pts")
    folder = tmp_path / "folder.pts"
    folder.mkdir()
    with pytest.raises(LandmarkError, match="is a directory"):
        read_landmarks(folder)
    path = tmp_path / "a.pts"
    path.write_text(_pts_text([(1, 2)] * 5))
    assert read_landmarks(path, n_points=None).shape == (5, 2)
    with pytest.raises(LandmarkError, match="expected 68 points, found 5"):
        read_landmarks(path)
    with pytest.raises(LandmarkError, match="unknown suffix"):
        write_landmarks(tmp_path / "a.xml", _grid())
    with pytest.raises(LandmarkError, match=r"expected shape \(n, 2\)"):
        write_landmarks(tmp_path / "a.pts", np.zeros((68, 3)))
    with pytest.raises(LandmarkError, match="infinite"):
        write_landmarks(tmp_path / "a.pts", np.full((68, 2), np.inf))
    with pytest.raises(LandmarkError, match="cannot be written"):
        write_landmarks(tmp_path / "no" / "a.pts", _grid())


def test_write_landmarks_accepts_torch_tensors(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    write_landmarks(tmp_path / "t.pts", torch.tensor(_grid(), dtype=torch.float32))
    np.testing.assert_allclose(read_landmarks(tmp_path / "t.pts"), _grid())


def test_validate_landmarks_accepts_points_in_the_image() -> None:
    points = _grid()
    points[5] = np.nan
    checked = validate_landmarks(points, (480, 640, 3), "face.pts")
    np.testing.assert_array_equal(checked, points)
    near_border = np.array([[-0.4, 0.0], [639.4, 479.4], [10, 10], [-50, 10]])
    validate_landmarks(near_border, (480, 640), "border.pts")  # 3 of 4 inside, 1 a bit out


@pytest.mark.parametrize(
    ("points", "problem"),
    [
        (_grid() + np.array([700.0, 0.0]), "outside the image"),  # far to the right
        (_grid() * [1.0, -1.0] + [0.0, 100.0], "outside the image"),  # mostly above the top
        (np.array([[1.0, 1.0], [2.0, 2.0], [np.nan, np.nan]]), "only 2 valid points"),
        (np.array([[1.0, 1.0], [2.0, np.inf], [3.0, 3.0]]), "infinite"),
        (np.zeros((68, 3)), "shape"),
    ],
)
def test_validate_landmarks_rejects_unusable_points(points: np.ndarray, problem: str) -> None:
    with pytest.raises(LandmarkError, match=f"landmarks 'face.pts': .*{problem}"):
        validate_landmarks(points, (480, 640, 3), "face.pts")


# --------------------------------------------------------------------------------------------
# meshes


@st.composite
def meshes(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_vertices = draw(st.integers(1, 30))
    vertices = draw(hnp.arrays(np.float64, (n_vertices, 3), elements=floats(-1e3, 1e3)))
    triangles = draw(hnp.arrays(np.int64, st.tuples(st.integers(0, 40), st.just(3)),
                                elements=st.integers(0, n_vertices - 1)))
    colours = draw(hnp.arrays(np.uint8, (n_vertices, 3))) / 255.0
    return vertices, triangles, colours


@pytest.mark.parametrize("suffix", [".obj", ".ply"])
@given(mesh=meshes(), with_colours=st.booleans())
def test_mesh_round_trip(
    tmp_path: Path, suffix: str, mesh: tuple[np.ndarray, np.ndarray, np.ndarray],
    with_colours: bool,
) -> None:
    vertices, triangles, colours = mesh
    path = tmp_path / f"mesh{suffix}"
    save_mesh(path, vertices, triangles, colours if with_colours else None)
    v, t, c = load_mesh(path)
    np.testing.assert_array_equal(v, vertices)  # float32-exact values survive both formats
    np.testing.assert_array_equal(t, triangles)
    assert v.dtype == np.float64 and t.dtype == np.int64 and t.shape == triangles.shape
    if with_colours:
        assert c is not None
        np.testing.assert_allclose(c, colours, atol=1e-6)
    else:
        assert c is None
    assert _leftovers(tmp_path) == []


def test_written_obj_and_ply_layout(tmp_path: Path) -> None:
    vertices = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.5, 0.0]])
    save_mesh(tmp_path / "m.obj", vertices, np.array([[0, 1, 2]]), np.full((3, 3), 0.5))
    lines = (tmp_path / "m.obj").read_text().splitlines()
    assert "v 1.0 0.0 0.0 0.5 0.5 0.5" in lines and "f 1 2 3" in lines
    save_mesh(tmp_path / "m.ply", vertices, np.array([[0, 1, 2]]), np.full((3, 3), 1.0))
    data = (tmp_path / "m.ply").read_bytes()
    header, body = data.split(b"end_header\n")
    assert b"format binary_little_endian 1.0" in header
    assert b"property uchar red" in header
    assert b"property list uchar int vertex_indices" in header
    assert len(body) == 3 * (12 + 3) + (1 + 12)
    assert struct.unpack("<fffBBB", body[15:30]) == (1.0, 0.0, 0.0, 255, 255, 255)
    assert struct.unpack("<Biii", body[45:]) == (3, 0, 1, 2)


def test_save_mesh_accepts_torch_tensors(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    vertices = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    triangles = torch.tensor([[0, 1, 2]])
    colours = torch.full((3, 3), 0.25, dtype=torch.float64)
    for suffix in (".obj", ".ply"):
        save_mesh(tmp_path / f"t{suffix}", vertices, triangles, colours)
        v, t, c = load_mesh(tmp_path / f"t{suffix}")
        np.testing.assert_array_equal(v, vertices.numpy())
        np.testing.assert_array_equal(t, [[0, 1, 2]])
        assert c is not None and np.allclose(c, 0.25, atol=1 / 255)


def test_load_mesh_reads_foreign_obj(tmp_path: Path) -> None:
    path = tmp_path / "foreign.obj"
    path.write_text(
        "# made elsewhere\nmtllib x.mtl\no thing\n"
        "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0 1.0\nvt 0 0\nvn 0 0 1\n"
        "usemtl skin\ns off\n"
        "f 1/1/1 2/1/1 3/1/1 4/1/1\n"
        "v 2 2 2\n"
        "f -1//1 -4//1 -3//1\n"
        "f 1/1 3/1 4/1\n"
        "l 1 2\n"
    )
    vertices, triangles, colours = load_mesh(path)
    assert vertices.shape == (5, 3) and colours is None
    np.testing.assert_array_equal(triangles, [[0, 1, 2], [0, 2, 3], [4, 1, 2], [0, 2, 3]])


def test_load_mesh_reads_ascii_and_polygon_ply(tmp_path: Path) -> None:
    ascii_ply = tmp_path / "ascii.ply"
    ascii_ply.write_text(
        "ply\nformat ascii 1.0\ncomment hand made\nelement vertex 4\n"
        "property float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\n"
        "element face 2\nproperty list uchar int vertex_indices\nend_header\n"
        "0 0 0 255 0 0\n1 0 0 0 255 0\n1 1 0 0 0 255\n0 1 0 51 51 51\n"
        "4 0 1 2 3\n3 0 2 3\n"
    )
    vertices, triangles, colours = load_mesh(ascii_ply)
    np.testing.assert_array_equal(vertices[2], [1, 1, 0])
    np.testing.assert_array_equal(triangles, [[0, 1, 2], [0, 2, 3], [0, 2, 3]])
    assert colours is not None
    np.testing.assert_allclose(colours[[0, 3]], [[1, 0, 0], [0.2, 0.2, 0.2]])
    header = (
        b"ply\nformat binary_little_endian 1.0\nelement vertex 4\nproperty double x\n"
        b"property double y\nproperty double z\nelement face 2\n"
        b"property list uchar uint vertex_index\nend_header\n"
    )
    body = np.arange(12, dtype="<f8").tobytes()
    body += struct.pack("<BIII", 3, 0, 1, 2) + struct.pack("<BIIII", 4, 0, 1, 2, 3)
    (tmp_path / "mixed.ply").write_bytes(header + body)
    vertices, triangles, colours = load_mesh(tmp_path / "mixed.ply")
    np.testing.assert_array_equal(vertices, np.arange(12).reshape(4, 3))
    np.testing.assert_array_equal(triangles, [[0, 1, 2], [0, 1, 2], [0, 2, 3]])
    assert colours is None


@pytest.mark.parametrize(
    ("vertices", "triangles", "colours", "problem"),
    [
        (np.zeros((3, 2)), [[0, 1, 2]], None, r"vertices must be a real \(V, 3\) array"),
        (np.full((3, 3), np.nan), [[0, 1, 2]], None, "NaN"),
        (np.zeros((3, 3)), [[0.0, 1.0, 2.0]], None, "triangles must be integers"),
        (np.zeros((3, 3)), [[0, 1]], None, r"\(T, 3\)"),
        (np.zeros((3, 3)), [[0, 1, 3]], None, r"indices must lie in \[0, 2\]"),
        (np.zeros((3, 3)), [[0, 1, -1]], None, "indices must lie"),
        (np.zeros((3, 3)), [[0, 1, 2]], np.zeros((2, 3)), r"colors must be a real \(3, 3\)"),
        (np.zeros((3, 3)), [[0, 1, 2]], np.full((3, 3), np.inf), "colors contain NaN"),
    ],
)
@pytest.mark.parametrize("suffix", [".obj", ".ply"])
def test_save_mesh_rejects_bad_arrays(
    tmp_path: Path, suffix: str, vertices: np.ndarray, triangles: list[list[float]],
    colours: np.ndarray | None, problem: str,
) -> None:
    path = tmp_path / f"bad{suffix}"
    with pytest.raises(MeshError, match=f"mesh '.*bad{suffix}': .*{problem}"):
        save_mesh(path, vertices, np.array(triangles), colours)
    assert not path.exists() and _leftovers(tmp_path) == []


def test_mesh_file_errors_name_the_file(tmp_path: Path) -> None:
    triangle = (np.eye(3), np.array([[0, 1, 2]]))
    with pytest.raises(MeshError, match=r"mesh '.*m\.stl': unknown suffix '\.stl'"):
        save_mesh(tmp_path / "m.stl", *triangle)
    with pytest.raises(MeshError, match="cannot be written"):
        save_mesh(tmp_path / "no" / "m.obj", *triangle)
    with pytest.raises(MeshError, match=r"mesh '.*gone\.ply': no such file"):
        load_mesh(tmp_path / "gone.ply")
    with pytest.raises(MeshError, match="unknown suffix"):
        load_mesh(tmp_path / "m.stl")
    bad_obj = tmp_path / "bad.obj"
    bad_obj.write_text("v 0 0 0\nv 1 0 zero\nv 0 1 0\nf 1 2 3\n")
    with pytest.raises(MeshError, match=r"bad\.obj': has a malformed number 'zero' on line 2"):
        load_mesh(bad_obj)
    bad_obj.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 4\n")
    with pytest.raises(MeshError, match="out of range"):
        load_mesh(bad_obj)
    bad_obj.write_text("v 0 0 0\nv 1 0 0\nf 1 2\n")
    with pytest.raises(MeshError, match="fewer than 3 corners on line 3"):
        load_mesh(bad_obj)
    save_mesh(tmp_path / "cut.ply", *triangle)
    data = (tmp_path / "cut.ply").read_bytes()
    (tmp_path / "cut.ply").write_bytes(data[:-5])
    with pytest.raises(MeshError, match=r"cut\.ply': is truncated"):
        load_mesh(tmp_path / "cut.ply")
    (tmp_path / "cut.ply").write_bytes(b"solid stl\n")
    with pytest.raises(MeshError, match="not a PLY file"):
        load_mesh(tmp_path / "cut.ply")


def test_large_mesh_saves_quickly(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    vertices = rng.normal(size=(50_000, 3))
    triangles = rng.integers(0, 50_000, size=(100_000, 3))
    colours = rng.random((50_000, 3))
    for suffix in (".obj", ".ply"):
        start = time.perf_counter()
        save_mesh(tmp_path / f"big{suffix}", vertices, triangles, colours)
        assert time.perf_counter() - start < 2.0  # about 0.1 s here; generous for slow CI
    v, t, _ = load_mesh(tmp_path / "big.obj")
    np.testing.assert_allclose(v, vertices, rtol=1e-8, atol=1e-8)
    np.testing.assert_array_equal(t, triangles)


# --------------------------------------------------------------------------------------------
# the shared real data


def _pts_numbers(path: Path) -> np.ndarray:
    lines = path.read_text().splitlines()
    start = lines.index("{")
    return np.array([[float(v) for v in line.split()] for line in lines[start + 1 : start + 69]])


@pytest.mark.parametrize(
    ("image_name", "pts_name", "shape"),
    [
        ("300w/image_0010.png", "300w/image_0010.pts", (1024, 1280, 3)),
        ("samples/astronaut.png", "samples/astronaut.pts", (512, 512, 3)),
        ("samples/grace_hopper.jpg", "samples/grace_hopper.pts", (600, 512, 3)),
    ],
)
def test_shared_images_and_landmarks(
    shared_data: Path, image_name: str, pts_name: str, shape: tuple[int, int, int]
) -> None:
    image = read_image(shared_data / image_name)
    assert image.shape == shape and image.dtype == np.float64
    assert 0.0 <= image.min() and image.max() <= 1.0 and image.std() > 0.05
    points = read_landmarks(shared_data / pts_name)
    assert points.shape == (68, 2) and not np.isnan(points).any()
    assert np.all(points >= 0) and np.all(points[:, 0] < shape[1])
    assert np.all(points[:, 1] < shape[0])
    np.testing.assert_array_equal(points, _pts_numbers(shared_data / pts_name) - 1.0)
    validate_landmarks(points, image.shape, pts_name)
