"""Issue 22: the tools around the package stay readable: no .py file under bench/ or recipes/ over 400 lines."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 400


def test_no_bench_or_recipe_file_is_over_the_limit():
    sizes = {str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines())
             for folder in ("bench", "recipes") for path in sorted((ROOT / folder).rglob("*.py"))}
    assert len(sizes) > 10  # the folders were found
    over = {path: lines for path, lines in sizes.items() if lines > LIMIT}
    assert not over, f"over {LIMIT} lines (split by concept into modules beside it): {over}"
