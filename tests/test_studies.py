"""Running studies end to end: papermill on the jupytext notebooks, and the book build."""
import json

import nbformat
import pytest

from xsd import book, paths
from xsd.runner import GOLDEN_STUDIES, available_studies


def _stream_text(notebook) -> str:
    return "".join(
        output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
        for output in cell.get("outputs", []) if output.output_type == "stream"
    )


def test_every_study_in_the_toc_has_a_notebook_and_the_reverse():
    assert book.studies(), "the table of contents lists no study"
    assert set(book.studies()) == set(available_studies())


def test_every_golden_study_has_a_committed_golden_notebook():
    for name in GOLDEN_STUDIES:
        assert (paths.REPO / "tests" / "golden" / f"{name}.ipynb").is_file()


def test_every_notebook_has_a_parameters_cell_with_profile():
    import jupytext

    for name in available_studies():
        notebook = jupytext.read(paths.NOTEBOOKS / f"{name}.py")
        tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{name}: expected one cell tagged parameters"
        assert "profile =" in tagged[0].source


def test_run_a_study_with_a_parameter(run_xsd, tmp_path):
    output = tmp_path / "speed_ratio.ipynb"
    result = run_xsd("run", "speed_ratio", "--profile", "smoke", "-p", "measured_c=0.2",
                     "-p", "measured_c_source=test", "--output", output,
                     env={"XSD_CACHE": str(tmp_path / "cache"), "XSD_FIGURES": str(tmp_path / "figures")})
    assert result.returncode == 0, result.stdout + result.stderr
    text = _stream_text(nbformat.read(output, as_version=4))
    assert "c = 0.200 (test)" in text
    assert "classic SD at γ = 5 needs α ≥ 0.5" in text  # required_alpha(5, 0.2) = 0.5...
    assert (tmp_path / "figures" / "speed_ratio_heatmap.png").is_file()
    record = json.loads((tmp_path / "cache" / "runs" / "smoke" / "speed_ratio.json").read_text())
    assert record["parameters"]["measured_c"] == 0.2 and record["wall_s"] > 0


def test_a_failing_cell_fails_the_run(run_xsd, tmp_path):
    result = run_xsd("run", "speed_ratio", "--profile", "smoke", "-p", "gamma=0", "--output",
                     tmp_path / "out.ipynb", env={"XSD_CACHE": str(tmp_path / "cache"),
                                                  "XSD_FIGURES": str(tmp_path / "figures")})
    assert result.returncode == 1
    assert "ValueError" in result.stdout and "gamma" in result.stdout


@pytest.mark.slow
def test_book_builds_strictly_with_reproducibility_page(run_xsd, tmp_path):
    result = run_xsd("book", "--profile", "smoke", env={"XSD_CACHE": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    html = paths.REPO / "_build" / "html" / "book"
    for page in ["intro", "references", "reproducibility", *book.studies()]:
        assert (html / f"{page}.html").is_file(), page
    page = (paths.book_dir() / "reproducibility.md").read_text()
    assert "| speed_ratio | smoke |" in page and "transformers" in page
    assert "- CPU: " in page and "bf16 in hardware: " in page  # what the timings were measured on
    assert "| models |" in page and "| decode benchmark |" in page  # the pipeline steps and their times
    assert (paths.figures_dir() / "speed_ratio_heatmap.png").is_file()


def test_golden_notebooks_hold_the_current_notebook_source():
    """nbval re-executes the golden copy's own cells: they must be the study's current cells."""
    import jupytext

    for name in GOLDEN_STUDIES:
        current = [c.source for c in jupytext.read(paths.NOTEBOOKS / f"{name}.py").cells]
        golden = nbformat.read(paths.REPO / "tests" / "golden" / f"{name}.ipynb", as_version=4)
        stored = [c.source for c in golden.cells if "injected-parameters" not in c.metadata.get("tags", [])]
        assert stored == current, f"tests/golden/{name}.ipynb is stale: run `make golden`"
        injected = [c.source for c in golden.cells if "injected-parameters" in c.metadata.get("tags", [])]
        assert injected and "profile = \"smoke\"" in injected[0]


def test_goldens_compare_most_of_their_outputs_and_say_why_they_ignore_the_rest():
    """Every study has a golden; nbval ignores a cell's output only where the run measures time,
    and such a cell says why in its first line; no golden ignores more than its stated share."""
    import jupytext

    from xsd.runner import DEFAULT_MAX_IGNORED_SHARE, MAX_IGNORED_SHARE

    assert set(GOLDEN_STUDIES) == set(available_studies())
    for name in GOLDEN_STUDIES:
        code = [c for c in jupytext.read(paths.NOTEBOOKS / f"{name}.py").cells if c.cell_type == "code"]
        ignored = [c for c in code if "nbval-ignore-output" in c.metadata.get("tags", [])]
        for cell in ignored:
            assert cell.source.startswith("# nbval ignores this cell's output: "), f"{name}: {cell.source[:60]!r}"
        share = len(ignored) / len(code)
        assert share <= MAX_IGNORED_SHARE.get(name, DEFAULT_MAX_IGNORED_SHARE), f"{name} ignores {share:.0%}"
