"""Reading images as people see them (EXIF orientation), and folder listings that say
what they leave out."""

import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageOps

from exif_data import stored_pixels, write_oriented
from spl_tf.utils import image_io

# Not square and not symmetric: every turn and mirror gives other pixels.
PICTURE = np.random.default_rng(0).integers(0, 256, (5, 7, 3), np.uint8)


def _exif_transpose(path) -> np.ndarray:
    """Pillow's reading of the file, upright: the independent reference."""
    with Image.open(path) as image:
        return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))


def test_every_orientation_reads_upright_eagerly_and_in_a_pipeline(tmp_path):
    paths = [write_oriented(tmp_path / f"o{code}.png", PICTURE, code) for code in range(1, 9)]
    for code, path in enumerate(paths, start=1):
        assert image_io.exif_orientation(path) == code
        if code > 1:  # stored otherwise: reading it as stored would fail below
            assert not np.array_equal(stored_pixels(path), PICTURE)
        np.testing.assert_array_equal(_exif_transpose(path), PICTURE)
        np.testing.assert_array_equal(image_io.read_rgb(path), PICTURE)

    # The graph function, in tf.data as the pipelines run it.
    sources = tf.data.Dataset.from_tensor_slices(
        ([str(p) for p in paths], [image_io.exif_orientation(p) for p in paths]))
    for image in sources.map(image_io.read):
        np.testing.assert_array_equal(image.numpy(), PICTURE)
    for code in (0, 9, -1, 65535):  # not an orientation: as stored
        np.testing.assert_array_equal(image_io.read(str(paths[0]), tf.constant(code)), PICTURE)


def test_a_turned_jpeg_reads_as_pillow_shows_it(tmp_path):
    smooth = np.broadcast_to(np.linspace(0, 255, 40, dtype=np.uint8)[None, :, None],
                             (24, 40, 3)).copy()
    smooth[:8, :10] = (250, 20, 20)  # a red corner: top left when upright
    path = write_oriented(tmp_path / "phone.jpg", smooth, 6)
    assert stored_pixels(path).shape == (40, 24, 3)
    image = image_io.read_rgb(path)
    assert image.shape == (24, 40, 3)
    # The two JPEG decoders differ by a few levels; a wrong turn differs by far more.
    assert np.abs(image.astype(int) - _exif_transpose(path)).mean() < 2
    assert np.abs(image[2, 2].astype(int) - (250, 20, 20)).max() < 12


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")  # Pillow's, on the truncated one
@pytest.mark.parametrize("exif", [None, 0, 9, 65535, b"Exif\x00\x00not a TIFF header",
                                  b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x05\x01\x12"])
@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_no_valid_orientation_leaves_the_image_as_stored(tmp_path, exif, suffix):
    path = tmp_path / f"plain{suffix}"
    if isinstance(exif, int):
        write_oriented(path, PICTURE, exif)
    else:
        Image.fromarray(PICTURE).save(path, **({"exif": exif} if exif else {}), quality=95)
    assert image_io.exif_orientation(path) == 1
    image = image_io.read_rgb(path)
    np.testing.assert_array_equal(image, image_io.decode(tf.io.read_file(str(path))))


def test_unreadable_files_have_no_orientation(tmp_path):
    (tmp_path / "fake.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    assert image_io.exif_orientation(tmp_path / "fake.jpg") == 1
    assert image_io.exif_orientation(tmp_path / "missing.png") == 1
    assert image_io.read_rgb(tmp_path / "fake.jpg") is None


def test_entries_that_are_not_image_files_are_named_in_one_warning(tmp_path, caplog):
    image_io.write_rgb(tmp_path / "good.png", PICTURE)
    os.symlink("good.png", tmp_path / "link.png")  # a usable link
    os.symlink("gone.png", tmp_path / "dangling.png")
    os.symlink("b.png", tmp_path / "a.png")
    os.symlink("a.png", tmp_path / "b.png")
    (tmp_path / "x.png").mkdir()
    (tmp_path / "notes.txt").write_text("not an image name: not mentioned")
    with caplog.at_level("WARNING"):
        files = image_io.list_images(tmp_path)
    assert [f.name for f in files] == ["good.png", "link.png"]
    [warning] = [r.getMessage() for r in caplog.records]
    assert warning == (f"skipping 4 entries of {tmp_path} that are not image files: "
                       "a.png (a symlink loop), b.png (a symlink loop), "
                       "dangling.png (a dangling symlink), x.png (a folder)")

    caplog.clear()
    with caplog.at_level("WARNING"):
        assert image_io.list_images(tmp_path / "x.png") == []
    assert not caplog.records  # nothing left out, nothing said
