"""``nanobanana plan``: what a run would do and cost, as a subprocess, nothing sent."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from engine_testing import deck_config, jpeg_bytes, run_cli, write_json


def test_a_fresh_deck_is_all_to_generate_at_the_page_price(tmp_path: Path) -> None:
    config = write_json(
        tmp_path / "slides.json", deck_config(tmp_path / "deck", 10, image_size="2K")
    )
    done = run_cli("plan", str(config))
    assert done.returncode == 0, done.stderr
    line = done.stdout.decode()
    assert line.count("\n") == 1
    assert line.startswith(
        f"plan (free, sends nothing): 10 slides -> {tmp_path / 'deck'}; generate 10 (slides 1-10)"
    )
    assert line.endswith(
        "; 10 requests, about $1.34 standard at list prices as of 2026-11 "
        "(Priority $2.69, Flex $0.67, $0.67 through the Batch API)\n"
    )
    assert not (tmp_path / "deck").exists()  # nothing written, nothing sent

    as_json = orjson.loads(run_cli("plan", str(config), "--json").stdout)
    assert as_json["generate"] == list(range(1, 11))
    assert as_json["requests"] == 10
    assert as_json["cost_usd"] == pytest.approx(1.34, abs=0.01)
    assert as_json["batch_cost_usd"] == pytest.approx(0.67, abs=0.01)


def test_a_model_of_no_known_price_is_planned_without_a_cost(tmp_path: Path) -> None:
    deck = deck_config(tmp_path / "deck", 2, model="someones-proxy-model")
    line = run_cli("plan", str(write_json(tmp_path / "slides.json", deck))).stdout.decode()
    assert line.startswith("plan (free, sends nothing): 2 slides -> ")
    assert line.endswith(
        "; 2 requests, cost unknown (no list prices as of 2026-11 for this model)\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--regenerate", "3-x"], b"slide numbers and ranges"),
        (["--regenerate", "40"], b"--regenerate: no slide 40 in the config"),
        # Past the slide numbers: refused from its two ends, nothing expanded.
        (["--regenerate", "1-999999999"], b"is not a range of slides (numbers 0 to 999,999"),
        # 3.4 KB of ranges once took 2.9 GB: the ranges together name at most a deck's most.
        (["--regenerate", ",".join(["1-100000"] * 378)], b"names more than 10,000 slides"),
        (["--regenerate", "1-5000,5001-10000,3"], b"names more than 10,000 slides"),
    ],
)
def test_bad_slide_lists_are_one_line_and_exit_2(
    tmp_path: Path, args: list[str], message: bytes
) -> None:
    config = write_json(tmp_path / "slides.json", deck_config(tmp_path / "deck", 3))
    done = run_cli("plan", str(config), *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert done.stderr.count(b"\n") == 1


def test_a_batch_api_deck_is_priced_at_the_batch_rate_first(tmp_path: Path) -> None:
    deck = deck_config(tmp_path / "deck", 10, image_size="2K")
    by_config = write_json(tmp_path / "batch.json", deck | {"mode": "batch-api"})
    standard = write_json(tmp_path / "slides.json", deck)
    expected = (
        "10 requests in one batch, about $0.67 through the Batch API at list prices as of "
        "2026-11 ($1.34 standard)\n"
    )
    assert expected in run_cli("plan", str(by_config)).stdout.decode()
    flagged = run_cli("run", str(standard), "--dry-run", "--batch-api")
    assert expected in flagged.stdout.decode()
    assert not (tmp_path / "deck").exists()


def test_a_count_of_one_is_singular_wherever_it_is_printed(tmp_path: Path) -> None:
    config = write_json(tmp_path / "slides.json", deck_config(tmp_path / "deck", 1))
    line = run_cli("plan", str(config)).stdout.decode()
    assert line.startswith(f"plan (free, sends nothing): 1 slide -> {tmp_path / 'deck'}; ")
    assert "; generate 1 (slide 1); " in line
    assert "; 1 request, about $" in line
    files = ["--progress-file", str(tmp_path / "p.json"), "--results-file", str(tmp_path / "r")]
    refused = run_cli("run", str(config), "--emulator", "--max-cost", "0.01", *files)
    assert refused.returncode == 2
    assert b"this run would cost about $0.13 (1 image), over the budget" in refused.stderr
    made = run_cli("run", str(config), "--emulator", *files)
    assert made.returncode == 0, made.stderr
    assert orjson.loads((tmp_path / "p.json").read_bytes())["status"].startswith(
        "done: 1 of 1 slide saved"
    )


def test_a_deck_past_the_slide_cap_is_one_line_naming_the_cap(tmp_path: Path) -> None:
    config = write_json(tmp_path / "slides.json", deck_config(tmp_path / "deck", 10_001))
    done = run_cli("plan", str(config))
    assert done.returncode == 2
    assert done.stderr == (
        b"nanobanana: error: slides: has 10,001 slides; the limit is 10,000 a deck, "
        b"split it into several configs\n"
    )
    assert not (tmp_path / "deck").exists()


def test_plan_resume_shows_the_received_images_a_resumed_run_saves_without_asking(
    tmp_path: Path,
) -> None:
    # A run killed while converting leaves the image as received (staged); --resume saves
    # it. The plan decides it, so plan --resume says so, and does not price it.
    deck = tmp_path / "deck"
    deck.mkdir()
    (deck / ".slide-02.webp.received").write_bytes(jpeg_bytes())
    (deck / ".slide-03.webp.received").write_bytes(jpeg_bytes()[:300])  # cut: asked again
    config = write_json(tmp_path / "slides.json", deck_config(deck, 3))
    line = run_cli("plan", str(config), "--resume").stdout.decode()
    assert f"-> {deck}; generate 2 (slides 1, 3), save 1 received (slide 2); 2 requests" in line
    as_json = orjson.loads(run_cli("plan", str(config), "--resume", "--json").stdout)
    assert (as_json["generate"], as_json["recover"], as_json["requests"]) == ([1, 3], [2], 2)
    rows = run_cli("plan", str(config), "--resume", "--slides").stdout.decode().splitlines()
    why = "received by the interrupted run, saved without asking again"
    assert rows[3].split() == ["2", "save", "-", *why.split()]
    # A fresh run asks again whatever is staged, and its plan says so.
    assert "generate 3 (slides 1-3); 3 requests" in run_cli("plan", str(config)).stdout.decode()
    assert (deck / ".slide-02.webp.received").exists()  # the plan only looked


def test_a_dry_run_refuses_what_run_would_refuse_over_the_budget(tmp_path: Path) -> None:
    # run --dry-run shows what run will do: over the budget, that is a refusal, exit 2.
    config = write_json(tmp_path / "slides.json", deck_config(tmp_path / "deck", 2))
    refused = run_cli("run", str(config), "--dry-run", "--max-cost", "0.01")
    assert refused.returncode == 2
    assert refused.stderr.startswith(b"nanobanana: error: max_cost: this run would cost about $")
    assert refused.stdout == b""
    budgeted = write_json(
        tmp_path / "budget.json", deck_config(tmp_path / "deck", 2) | {"max_cost": 0.01}
    )
    assert run_cli("run", str(budgeted), "--dry-run").returncode == 2
    # plan only looks: it prints the cost, whatever the budget.
    assert run_cli("plan", str(budgeted)).returncode == 0
    assert not (tmp_path / "deck").exists()


def test_plan_says_which_slides_have_their_text_checked_and_what_they_must_say(
    tmp_path: Path,
) -> None:
    pytest.importorskip("rapidocr", reason="the qa extra (rapidocr, onnxruntime) is not installed")
    deck = deck_config(tmp_path / "deck", 3)
    deck["slides"][1]["text"] = ["Q3 Results", "Revenue up 24%"]
    deck["slides"][2]["prompt"] = 'Closing slide with "Thank You"'  # quoted, not checked
    config = write_json(tmp_path / "slides.json", deck)
    line = run_cli("plan", str(config)).stdout.decode()
    assert line.count("\n") == 1
    assert line.endswith("; text checked on 1 slide\n")
    lines = run_cli("plan", str(config), "--slides").stdout.decode().splitlines()
    assert lines[-1] == "slide 2 text: 'Q3 Results', 'Revenue up 24%'"
    as_json = orjson.loads(run_cli("plan", str(config), "--json").stdout)
    assert as_json["text_checked"] == {"2": ["Q3 Results", "Revenue up 24%"]}

    deck["check_text"] = True  # every slide: its text, else its prompt's quotes
    lines = run_cli("plan", str(write_json(config, deck)), "--slides").stdout.decode()
    assert lines.splitlines()[0].endswith("; text checked on 2 slides")
    assert lines.splitlines()[-2:] == [
        "slide 2 text: 'Q3 Results', 'Revenue up 24%'",
        "slide 3 text: 'Thank You'",
    ]


def test_a_deck_that_checks_no_text_plans_as_before(tmp_path: Path) -> None:
    config = write_json(tmp_path / "slides.json", deck_config(tmp_path / "deck", 2))
    assert "text" not in run_cli("plan", str(config), "--slides").stdout.decode()
    assert "text_checked" not in orjson.loads(run_cli("plan", str(config), "--json").stdout)


def test_plan_shows_what_text_fixes_may_cost_and_fix_text_overrides_it(tmp_path: Path) -> None:
    pytest.importorskip("rapidocr", reason="the qa extra (rapidocr, onnxruntime) is not installed")
    deck = deck_config(tmp_path / "deck", 3, check_text=True, fix_text=2)
    deck["slides"][0]["prompt"] = 'Title "Q3 Results"'
    deck["slides"][1]["text"] = ["Revenue up 24%"]  # slide 3 quotes nothing: not checked
    config = write_json(tmp_path / "slides.json", deck)
    as_json = orjson.loads(run_cli("plan", str(config), "--json").stdout)
    fixes = as_json["text_fixes"]
    assert (fixes["slides"], fixes["edits"]) == ({"1": 2, "2": 2}, 4)
    assert fixes["cost_usd"] > 0
    line = run_cli("plan", str(config)).stdout.decode()
    assert line.endswith(
        f"; text checked on 2 slides; up to 2 fixes each: up to 4 edits, "
        f"up to ${fixes['cost_usd']:.2f} more\n"
    )
    assert (
        as_json["cost_usd"]
        == orjson.loads(
            run_cli("plan", str(write_json(config, {**deck, "fix_text": 0})), "--json").stdout
        )["cost_usd"]
    )  # shown beside the run's cost, not in it
    write_json(config, deck)
    line = run_cli("plan", str(config), "--fix-text", "1").stdout.decode()
    assert "; up to 1 fix each: up to 2 edits, up to $" in line
    assert "text_fixes" not in orjson.loads(
        run_cli("plan", str(config), "--json", "--fix-text", "0").stdout
    )
    plain = write_json(tmp_path / "plain.json", deck_config(tmp_path / "deck", 1))
    refused = run_cli("plan", str(plain), "--fix-text", "1")
    assert refused.returncode == 2
    assert refused.stderr.decode() == (
        "nanobanana: error: --fix-text: corrects text the check found wrong, and no slide is "
        'checked; set "check_text": true or give slides their "text", or drop --fix-text\n'
    )
