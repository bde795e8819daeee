"""A deck on the Vertex AI backend through ``nanobanana mcp`` (the SDK's client over stdio),
against the emulator's Vertex paths, with tokens that expire mid-run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from engine_testing import deck_config, environment, vertex_credentials

from nanobanana_async.emulator import Emulator, EmulatorSettings, serve_in_thread

mcp = pytest.importorskip("mcp", reason="the mcp extra is not installed")

from mcp.client.session import ClientSession  # noqa: E402
from mcp.client.stdio import StdioServerParameters, stdio_client  # noqa: E402


async def test_a_deck_runs_on_vertex_through_the_mcp_server(tmp_path: Path) -> None:
    emulator = Emulator(
        EmulatorSettings(
            latency=False, token_lifetime=0.3, vertex_projects=frozenset({"deck-project"})
        )
    )
    deck = tmp_path / "deck"
    config = deck_config(deck, 3, format="jpg") | {"backend": "vertex", "project": "deck-project"}
    with serve_in_thread(emulator) as url:
        env = environment(url, XDG_STATE_HOME=str(tmp_path / "state"))
        env |= {
            "GOOGLE_APPLICATION_CREDENTIALS": str(vertex_credentials(tmp_path, url)),
            "NO_GCE_CHECK": "True",
        }
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "nanobanana_async", "mcp"],
            env=env,
            cwd=str(tmp_path),
        )
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            started = await session.call_tool("start_deck", {"config": config})
            assert not started.is_error, started.content
            assert started.structured_content is not None
            run_id = started.structured_content["run_id"]
            for _ in range(20):
                waited = await session.call_tool("wait_deck", {"run_id": run_id})
                assert waited.structured_content is not None
                if waited.structured_content["over"]:
                    break
        stats = emulator.stats()
    assert waited.structured_content["over"]
    assert sorted(path.name for path in deck.glob("slide-*.jpg")) == [
        f"slide-0{n}.jpg" for n in (1, 2, 3)
    ]
    assert stats["tokens_granted"] >= 2
    assert [a["status"] for a in stats["arrivals"]] == [200] * 3
