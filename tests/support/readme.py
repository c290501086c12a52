"""What the README promises, read from the README itself."""

from __future__ import annotations

from tests.support.paths import README


def first_channel_snippet() -> str:
    """The README's first-channel JavaScript, verbatim."""
    text = README.read_text()
    block = text.split("<!-- first-channel:start -->", 1)[1].split("<!-- first-channel:end -->")[0]
    code = block.split("```js\n", 1)[1].split("```", 1)[0]
    assert len(code.strip().splitlines()) <= 14, "a first channel stays short"
    return code


def publish_snippet() -> str:
    """The README's Python publishing snippet, verbatim."""
    text = README.read_text()
    block = text.split("<!-- publish:start -->", 1)[1].split("<!-- publish:end -->")[0]
    return block.split("```python\n", 1)[1].split("```", 1)[0]
