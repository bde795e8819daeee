"""``nanobanana mcp``: the tools of :mod:`.tools`, served over stdio with the official SDK.

The SDK (``mcp``, the optional extra ``nanobanana-async[mcp]``) is imported only here and
only when the server starts, so the rest of the package never needs it and a missing one
is a one-line error naming the install. Each answer is one text block (the line) and the
structured fields; view_deck adds the one image. Descriptions are short on purpose: a
client puts every tool's description in the agent's context for the whole conversation.
stdout is the protocol's: nothing else may print there.
"""

import base64
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from .._version import version
from ..errors import ConfigError
from ..exits import EXIT_USAGE
from .allowances import Allowances
from .edits import EditingTools
from .runs import Runs, runs_root
from .tools import MAX_IMAGES, MAX_WAIT_SECONDS, Answer

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

__all__ = ["MISSING_SDK", "build_server", "serve"]

MISSING_SDK = (
    "the MCP server needs the official MCP SDK: pip install 'nanobanana-async[mcp]' "
    "(or pip install mcp)"
)
_INSTRUCTIONS = (
    "Generates slide decks of images with Gemini in the background. start_deck returns at "
    "once; wait_deck (at most 50 s a call) until over; deck_results gives paths, never "
    "images; view_deck shows the contact sheet; edit_slide fixes one slide."
)


def build_server(tools: EditingTools) -> "MCPServer[Any]":
    """The server and its eight tools, over ``tools``.

    Not under ``from __future__ import annotations``: the SDK reads the tools' annotations
    at registration, and the names in them are this function's own (imported here).
    """
    from mcp.server.mcpserver import Context, MCPServer
    from mcp.server.mcpserver.tools import Tool
    from mcp.types import CallToolResult, ImageContent, TextContent
    from pydantic import Field

    registered: list[Callable[..., Any]] = []

    def tool() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            registered.append(fn)
            return fn

        return register

    def result(answer: Answer) -> CallToolResult:
        content: list[Any] = [TextContent(type="text", text=answer.text)]
        if answer.image is not None:
            data = base64.b64encode(answer.image).decode("ascii")
            content.append(ImageContent(type="image", data=data, mime_type="image/jpeg"))
        return CallToolResult(
            content=content, structured_content=answer.data or None, is_error=answer.error
        )

    run_id_field = Field(description="from start_deck; default: the latest run")
    RunId = Annotated[str | None, run_id_field]

    @tool()
    async def start_deck(
        config: Annotated[
            dict[str, Any] | None,
            Field(description="the deck: {output_dir, slides: [{number, prompt}], ...}"),
        ] = None,
        config_path: Annotated[str | None, Field(description="or a config JSON file")] = None,
        resume: Annotated[bool, Field(description="make only what is missing")] = False,
        regenerate: Annotated[str | None, Field(description="slides to redo: 3,7-9")] = None,
        force: Annotated[bool, Field(description="redo every slide")] = False,
        max_cost: Annotated[float | None, Field(description="budget in USD")] = None,
        emulator: Annotated[bool, Field(description="dry run: no key, no cost")] = False,
        batch_api: Annotated[bool, Field(description="half price, within 24 h")] = False,
        fix_text: Annotated[int | None, Field(description="text fix rounds, 0-3")] = None,
        service_tier: Annotated[
            Literal["standard", "flex", "priority"] | None,
            Field(description="flex: half price, slower"),
        ] = None,
    ) -> CallToolResult:
        """Start a deck in the background; returns its run_id at once."""
        return result(
            await tools.start_deck(
                config,
                config_path,
                resume=resume,
                regenerate=regenerate,
                force=force,
                max_cost=max_cost,
                emulator=emulator,
                batch_api=batch_api,
                fix_text=fix_text,
                service_tier=service_tier,
            )
        )

    @tool()
    async def deck_status(run_id: RunId = None) -> CallToolResult:
        """One line: a deck's progress, or how it ended."""
        return result(await tools.deck_status(run_id))

    @tool()
    async def wait_deck(
        ctx: Context,
        run_id: RunId = None,
        timeout_s: Annotated[
            float, Field(description=f"at most {MAX_WAIT_SECONDS:g}; call again if running")
        ] = MAX_WAIT_SECONDS,
    ) -> CallToolResult:
        """Wait until a deck is over (or timeout_s); one line, progress meanwhile."""
        return result(await tools.wait_deck(run_id, timeout_s, report=ctx.report_progress))

    @tool()
    async def deck_results(run_id: RunId = None) -> CallToolResult:
        """A finished deck: image paths, failures, cost (never pixels)."""
        return result(await tools.deck_results(run_id))

    @tool()
    async def generate_image(
        ctx: Context,
        prompt: str,
        count: Annotated[int, Field(ge=1, le=MAX_IMAGES)] = 1,
        aspect_ratio: Annotated[str | None, Field(description="e.g. 16:9")] = None,
        image_size: Annotated[str | None, Field(description="1K, 2K or 4K")] = None,
        model: str | None = None,
        output_dir: str | None = None,
        emulator: Annotated[bool, Field(description="dry run: no key, no cost")] = False,
    ) -> CallToolResult:
        """Make 1-4 images of one prompt; returns their paths (waits at most 50 s)."""
        answer = await tools.generate_image(
            prompt,
            count=count,
            aspect_ratio=aspect_ratio,
            image_size=image_size,
            model=model,
            output_dir=output_dir,
            emulator=emulator,
            report=ctx.report_progress,
        )
        return result(answer)

    @tool()
    async def view_deck(
        run_id: RunId = None,
        slide: Annotated[int | None, Field(description="its candidates")] = None,
    ) -> CallToolResult:
        """The deck's contact sheet as one small image."""
        return result(await tools.view_deck(run_id, slide))

    # Short: a client keeps every schema in the agent's context all along.
    @tool()
    async def edit_slide(
        ctx: Context,
        slide: int,
        instruction: str = "",
        run_id: str | None = None,
        config_path: str | None = None,
        region: Annotated[list[float] | None, Field(description="x,y,w,h fractions")] = None,
        undo: bool = False,
    ) -> CallToolResult:
        """Fix one slide of a made deck (run_id or config_path): 1 request a step; undo free."""
        answer = await tools.edit_slide(
            slide,
            instruction or None,
            config_path=config_path,
            run_id=run_id,
            region=region,
            undo=undo,
            report=ctx.report_progress,
        )
        return result(answer)

    @tool()
    async def pick_candidate(
        ctx: Context, slide: int, k: int, run_id: str | None = None, config_path: str | None = None
    ) -> CallToolResult:
        """Make candidate k of a slide the slide: free."""
        answer = await tools.pick_candidate(
            slide, k, config_path=config_path, run_id=run_id, report=ctx.report_progress
        )
        return result(answer)

    listed = [Tool.from_function(fn) for fn in registered]
    listed = [t.model_copy(update={"parameters": _without_titles(t.parameters)}) for t in listed]
    return MCPServer("nano-banana", instructions=_INSTRUCTIONS, version=version(), tools=listed)


def _without_titles(schema: Any) -> Any:
    """A JSON Schema without pydantic's ``title`` of every field (its name again, in
    words): a client keeps every tool's schema in the agent's context all along."""
    if isinstance(schema, list):
        return [_without_titles(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    cleaned: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" and isinstance(value, str):
            continue
        if key in ("properties", "$defs") and isinstance(value, dict):
            cleaned[key] = {name: _without_titles(sub) for name, sub in value.items()}
        else:
            cleaned[key] = _without_titles(value)
    return cleaned


def serve(allow_endpoints: Sequence[str] = ()) -> int:
    """Run the server on stdin/stdout until the client goes; the exit code.

    Args:
        allow_endpoints: the ``--allow-endpoint`` URLs: base URLs a client's config may
            name (besides ``NANO_BANANA_MCP_ALLOW_ENDPOINTS``'); by default none.
    """
    try:
        import mcp  # noqa: F401
    except ImportError:
        print(f"nanobanana: error: {MISSING_SDK}", file=sys.stderr)
        return EXIT_USAGE
    import anyio

    try:
        allowances = Allowances.of(allow_endpoints, os.environ)
    except ConfigError as error:
        print(f"nanobanana: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    tools = EditingTools(Runs(runs_root(os.environ)), allowances=allowances, cwd=Path.cwd())
    anyio.run(build_server(tools).run_stdio_async)
    return 0
