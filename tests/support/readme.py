"""What the README promises, read from the README itself."""

from __future__ import annotations

from tests.support.paths import README


def first_channel_snippet() -> str:
    """The README's first-channel JavaScript, verbatim."""
    text = README.read_text()
    block = text.split("<!-- first-channel:start -->", 1)[1].split("<!-- first-channel:end -->")[0]
    code = block.split("```js\n", 1)[1].split("```", 1)[0]
    assert len(code.strip().splitlines()) <= 10, "the README promises ten lines"
    return code
