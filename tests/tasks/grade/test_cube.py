"""Brand looks: .cube files read as the format says, applied exactly, errors with file and line."""

from __future__ import annotations

import numpy as np
import pytest

from common.errors import SpecError
from tasks.grade import ColourTable, load_cube, write_cube
from tasks.grade.cube import Lut3D, identity_grid
from tasks.grade.table import identity_table, lut_table


def _known_grid(size: int) -> np.ndarray:
    """A look with a cross-channel mix and a curve: nothing a separable shortcut could fake."""
    g = identity_grid(size)
    r, gr, b = g[..., 0], g[..., 1], g[..., 2]
    # Irregular coefficients, so no output lands exactly on half a level (a rounding tie).
    return np.stack([0.8137 * r ** 1.2 + 0.1513 * b, 0.9071 * gr + 0.0917 * r * b + 0.0011,
                     0.6093 * b + 0.3029 * gr ** 2 + 0.0013], axis=-1).clip(0, 1)


def test_an_identity_cube_leaves_frames_bit_identical(tmp_path):
    path = write_cube(tmp_path / "identity.cube", identity_grid(33), title="identity")
    look = load_cube(path)
    assert ColourTable.build(look=look) is None  # nothing to apply: frames pass untouched
    # Even built out, the table is the identity: every 8-bit colour maps to itself.
    assert np.array_equal(lut_table(look), identity_table())
    frame = np.random.default_rng(1).integers(0, 256, (36, 64, 3)).astype(np.uint8)
    assert np.array_equal(ColourTable(lut_table(look)).apply(frame), frame)


def test_a_known_lut_maps_colours_as_trilinear_interpolation_says(tmp_path, colour):
    # The oracle: colour-science's own trilinear LUT interpolation.

    grid = _known_grid(5)
    look = load_cube(write_cube(tmp_path / "known.cube", grid))
    table = ColourTable.build(look=look)
    colours = np.random.default_rng(2).integers(0, 256, (1, 3000, 3)).astype(np.uint8)
    oracle = colour.LUT3D(table=grid).apply(
        colours / 255.0, interpolator=colour.algebra.table_interpolation_trilinear)
    expected = np.clip(np.rint(oracle * 255), 0, 255)
    assert np.array_equal(table.apply(colours), expected)
    # Hand-checked corner and centre: the grid's own values come back.
    assert np.allclose(look.lookup(np.array([1.0, 0.0, 0.5])), grid[4, 0, 2])


def test_strength_mixes_the_look_with_the_source(tmp_path):
    look = load_cube(write_cube(tmp_path / "k.cube", _known_grid(5)))
    colours = np.random.default_rng(3).integers(0, 256, (1, 2000, 3)).astype(np.uint8)
    half = ColourTable.build(look=look, strength=0.4).apply(colours)
    full = look.lookup(colours / 255.0) * 255
    assert np.array_equal(half, np.clip(np.rint(colours + 0.4 * (full - colours)), 0, 255))


def test_rows_run_red_fastest_and_the_domain_is_honoured(tmp_path):
    path = tmp_path / "order.cube"
    rows = [f"{r} {g} {b}" for b in (0, 1) for g in (0, 1) for r in (0, 1)]
    path.write_text("# red fastest\nTITLE \"order\"\nLUT_3D_SIZE 2\nDOMAIN_MIN 0 0 0\n"
                    "DOMAIN_MAX 0.5 1 1\n" + "\n".join(rows) + "\n")
    look = load_cube(path)
    assert look.title == "order"
    assert np.allclose(look.lookup(np.array([0.25, 0.0, 1.0])), [0.5, 0.0, 1.0])
    assert np.allclose(look.lookup(np.array([0.9, 0.0, 0.0])), [1.0, 0.0, 0.0])  # clamped


@pytest.mark.parametrize(("text", "line", "words"), [
    ("LUT_3D_SIZE 2\n0 0 0\n1 0 0\n0 1 x\n", 4, "expected 3 numbers"),
    ("LUT_3D_SIZE 2\n0 0 0\n1 0 0\n", 3, "2 table rows; LUT_3D_SIZE 2 needs 8"),
    ("TITLE \"x\"\nLUT_1D_SIZE 4\n", 2, "1D LUT"),
    ("LUT_3D_SIZE 300\n", 1, "from 2 to 256"),
    ("0 0 0\n", 1, "before LUT_3D_SIZE"),
    ("LUT_3D_SIZE 2\n0 0 0\nLUT_3D_SIZE 2\n", 3, "keywords come first"),
    ("LUT_3D_SIZE 2\nGAMMA 2.2\n", 2, "unknown keyword"),
    ("LUT_3D_SIZE 2\n" + "0 0 0\n" * 7 + "0 nan 0\n", 9, "not a finite number"),
])
def test_a_bad_cube_names_the_file_and_the_line(tmp_path, text, line, words):
    path = tmp_path / "bad.cube"
    path.write_text(text)
    with pytest.raises(SpecError) as err:
        load_cube(path, field="brand.look")
    assert err.value.file == str(path) and err.value.line == line
    assert words in str(err.value) and "brand.look" in str(err.value)


def test_a_missing_cube_is_a_spec_error(tmp_path):
    with pytest.raises(SpecError, match="no such LUT file"):
        load_cube(tmp_path / "nowhere.cube")


def test_lookup_and_table_agree_on_a_big_lut():
    grid = _known_grid(17)
    look = Lut3D(grid=grid, sha256="g17")
    colours = np.random.default_rng(4).integers(0, 256, (1, 3000, 3)).astype(np.uint8)
    expected = np.clip(np.rint(look.lookup(colours / 255.0) * 255), 0, 255)
    assert np.array_equal(ColourTable.build(look=look).apply(colours), expected)
