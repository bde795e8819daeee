"""What comes from the environment (environment.py): NANO_BANANA_* defaults, the model id,
the API key, base_url, ${VAR} expansion, and messages that never show a secret."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from config_testing import KEY, check_refused, deck, key_refusal, load, one, refusal

from nanobanana_async.errors import ConfigError
from nanobanana_async.service.endpoint import DEFAULT_BASE_URL, EMULATOR_BASE_URL
from nanobanana_async.service.model_ids import DEFAULT_MODEL

ENV_URL = "GOOGLE_GEMINI_BASE_URL"

REFUSED: list[tuple[str, dict[str, Any], dict[str, Any], str, str]] = [
    # (id, top-level overrides, first-slide overrides, field, part of the problem)
    ("model shape", {"model": "../v1/x"}, {}, "model", "must be a model id like"),
    ("model query", {"model": "gemini?alt=x"}, {}, "model", "must be a model id"),
    ("model number", {"model": 3}, {}, "model", "must be a string, got integer"),
    ("api_key number", {"api_key": 12}, {}, "api_key", "must be a string"),
    ("api_key blank", {"api_key": " "}, {}, "api_key", "is empty"),
    ("api_key spaced", {"api_key": "AIza abc"}, {}, "api_key", "spaces"),
    ("api_key $VAR", {"api_key": "$GEMINI_API_KEY"}, {}, "api_key", 'write "${GEMINI_API_KEY}"'),
    ("api_key $ other", {"api_key": "$my-key"}, {}, "api_key", 'write "${NAME}", with braces'),
    ("base_url ftp", {"base_url": "ftp://host"}, {}, "base_url", "http(s) URL with a host"),
    ("base_url no host", {"base_url": "https://"}, {}, "base_url", "with a host"),
    ("base_url bare", {"base_url": "localhost:8080"}, {}, "base_url", "with a host"),
    ("base_url port", {"base_url": "http://h:99999"}, {}, "base_url", "with a host"),
    ("base_url query", {"base_url": "https://h/?key=1"}, {}, "base_url", "without ?query"),
    (
        "base_url $VAR",
        {"base_url": "$GOOGLE_GEMINI_BASE_URL"},
        {},
        "base_url",
        '"${GOOGLE_GEMINI_BASE_URL}"',
    ),
]


@pytest.mark.parametrize(
    ("top", "slide", "where", "problem"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_refused_with_field_and_reason(
    base: Path, top: dict[str, Any], slide: dict[str, Any], where: str, problem: str
) -> None:
    check_refused(base, top, slide, where, problem)


@pytest.mark.parametrize(
    ("top", "env", "model"),
    [
        ({}, {}, DEFAULT_MODEL),
        ({}, {"NANO_BANANA_MODEL": "gemini-3.1-flash-image"}, "gemini-3.1-flash-image"),
        ({}, {"NANO_BANANA_MODEL": "  "}, DEFAULT_MODEL),
        ({"model": "gemini-2.5-flash-image"}, {"NANO_BANANA_MODEL": "x"}, "gemini-2.5-flash-image"),
    ],
)
def test_model_fallbacks(base: Path, top: dict[str, Any], env: dict[str, str], model: str) -> None:
    assert load(deck(**top), base, env).model == model


def test_model_drops_the_rest_prefix(base: Path) -> None:
    assert load(deck(model="models/gemini-2.5-flash-image"), base).model == (
        "gemini-2.5-flash-image"
    )


RETIRED = "gemini-3-pro-image-preview"
NOTICE = (
    "model: gemini-3-pro-image-preview was retired on 2026-06-25; using gemini-3-pro-image "
    '(set "strict_model": true to keep it)'
)


@pytest.mark.parametrize(
    ("top", "env"),
    [
        ({}, {}),
        ({"base_url": "https://generativelanguage.googleapis.com/"}, {}),
        ({"base_url": "HTTPS://GenerativeLanguage.googleapis.com/v1beta"}, {}),
        ({}, {"GOOGLE_GEMINI_BASE_URL": "https://generativelanguage.googleapis.com"}),
        ({"strict_model": False}, {}),
        # run --emulator's embedded emulator plays Google's service, which retired the id.
        ({"base_url": "${GOOGLE_GEMINI_BASE_URL}"}, {"GOOGLE_GEMINI_BASE_URL": EMULATOR_BASE_URL}),
    ],
    ids=["default", "given", "spelled otherwise", "from env", "strict false", "embedded emulator"],
)
def test_a_retired_id_on_googles_endpoint_is_mapped_with_a_notice(
    base: Path, top: dict[str, Any], env: dict[str, str]
) -> None:
    config = load(deck(model=RETIRED, **top), base, env)
    assert config.model == "gemini-3-pro-image"
    assert config.notices == (NOTICE,)
    assert "\n" not in NOTICE


def test_the_notice_names_where_the_retired_id_came_from(base: Path) -> None:
    config = load(deck(), base, {"NANO_BANANA_MODEL": f"models/{RETIRED}"})
    assert config.model == "gemini-3-pro-image"
    assert config.notices == (NOTICE.replace("model:", "NANO_BANANA_MODEL:", 1),)
    flash = load(deck(model="gemini-2.5-flash-image-preview"), base)
    assert (flash.model, flash.notices[0].split(";")[1]) == (
        "gemini-2.5-flash-image",
        ' using gemini-2.5-flash-image (set "strict_model": true to keep it)',
    )


@pytest.mark.parametrize(
    ("top", "env"),
    [
        ({"strict_model": True}, {}),
        ({"base_url": "http://127.0.0.1:8765"}, {}),
        ({"base_url": "https://generativelanguage.googleapis.com.proxy.example"}, {}),
        ({}, {"GOOGLE_GEMINI_BASE_URL": "https://proxy.example/gemini"}),
        ({"strict_model": True, "base_url": "https://generativelanguage.googleapis.com"}, {}),
    ],
    ids=["strict", "loopback proxy", "look-alike host", "proxy from env", "strict on google"],
)
def test_a_retired_id_is_kept_when_strict_or_behind_a_proxy(
    base: Path, top: dict[str, Any], env: dict[str, str]
) -> None:
    # A proxy may still serve the old id; if it does not, its 404 names the replacement.
    config = load(deck(model=RETIRED, **top), base, env)
    assert config.model == RETIRED
    assert not [notice for notice in config.notices if "retired" in notice]


def test_a_current_id_has_no_notice(base: Path) -> None:
    assert load(deck(model="gemini-3-pro-image"), base).notices == ()
    assert load(deck(), base).notices == ()


def test_strict_model_is_a_boolean(base: Path) -> None:
    error = refusal(deck(strict_model="yes"), base)
    assert (error.field, error.problem) == ("strict_model", "must be true or false, got string")
    assert refusal(deck({"strict_model": True}), base).field == "slide 1 (slides[0]).strict_model"


@pytest.mark.parametrize(
    ("top", "env", "fmt", "quality"),
    [
        ({}, {}, "webp", 90),
        ({}, {"NANO_BANANA_FORMAT": "PNG", "NANO_BANANA_QUALITY": " 75 "}, "png", 75),
        ({}, {"NANO_BANANA_FORMAT": "", "NANO_BANANA_QUALITY": ""}, "webp", 90),
        ({"format": "jpg", "quality": 60}, {"NANO_BANANA_FORMAT": "png"}, "jpg", 60),
        ({"format": "jpg", "quality": 60}, {"NANO_BANANA_QUALITY": "75"}, "jpg", 60),
    ],
)
def test_format_and_quality_fallbacks(
    base: Path, top: dict[str, Any], env: dict[str, str], fmt: str, quality: int
) -> None:
    slide = one(deck(**top), base, env)
    assert (slide.format, slide.quality) == (fmt, quality)


@pytest.mark.parametrize(
    ("env", "where", "problem"),
    [
        ({"NANO_BANANA_MODEL": "a/b"}, "NANO_BANANA_MODEL", "must be a model id"),
        ({"NANO_BANANA_FORMAT": "gif"}, "NANO_BANANA_FORMAT", "got 'gif'"),
        ({"NANO_BANANA_QUALITY": "0"}, "NANO_BANANA_QUALITY", "1-100, got '0'"),
        ({"NANO_BANANA_QUALITY": "9.5"}, "NANO_BANANA_QUALITY", "1-100, got '9.5'"),
        ({"GOOGLE_GEMINI_BASE_URL": "gopher://h"}, "GOOGLE_GEMINI_BASE_URL", "http(s) URL"),
    ],
)
def test_bad_environment_values_name_the_variable(
    base: Path, env: dict[str, str], where: str, problem: str
) -> None:
    error = refusal(deck(), base, env)
    assert error.field == where
    assert problem in error.problem


@pytest.mark.parametrize(
    ("top", "env", "where", "problem"),
    [
        ({}, {"GEMINI_API_KEY": "AIza\x00x"}, "GEMINI_API_KEY", "control"),
        ({}, {"GOOGLE_API_KEY": "AIza x"}, "GOOGLE_API_KEY", "spaces"),
        ({"api_key": "${GEMINI_API_KEY}"}, {"GEMINI_API_KEY": "AIza x"}, "api_key", "spaces"),
        ({"api_key": "${GOOGLE_API_KEY}"}, {"GOOGLE_API_KEY": "  "}, "api_key", "not set"),
        ({"api_key": "${GEMINI_API_KEY}"}, {}, "api_key", "GEMINI_API_KEY is not set"),
        ({"api_key": " ${GOOGLE_API_KEY}\n"}, {}, "api_key", "variable GOOGLE_API_KEY is not set"),
        ({}, {}, "api_key", "no API key: set GEMINI_API_KEY (or GOOGLE_API_KEY)"),
    ],
)
def test_a_key_the_environment_lacks_is_said_only_by_what_sends(
    base: Path, top: dict[str, Any], env: dict[str, str], where: str, problem: str
) -> None:
    error = key_refusal(deck(**top), base, env)
    assert error.field == where
    assert problem in error.problem


def test_what_sends_adds_its_own_way_round_a_missing_key(base: Path) -> None:
    config = load(deck(api_key="${GEMINI_API_KEY}"), base, {})
    with pytest.raises(ConfigError) as info:
        config.require_key("; or pass emulator: true")
    assert str(info.value) == (
        "api_key: environment variable GEMINI_API_KEY is not set; set it, or remove api_key "
        "to read GEMINI_API_KEY; or pass emulator: true"
    )
    assert (
        load(deck(api_key="${GEMINI_API_KEY}"), base, {"GEMINI_API_KEY": KEY}).require_key() == KEY
    )


@pytest.mark.parametrize(
    ("top", "env", "key"),
    [
        ({}, {}, None),
        ({}, {"GEMINI_API_KEY": KEY, "GOOGLE_API_KEY": "other"}, KEY),
        ({}, {"GEMINI_API_KEY": "", "GOOGLE_API_KEY": KEY}, KEY),
        ({}, {"GOOGLE_API_KEY": f" {KEY}\n"}, KEY),
        ({"api_key": KEY}, {"GEMINI_API_KEY": "other"}, KEY),
        ({"api_key": "${GOOGLE_API_KEY}"}, {"GOOGLE_API_KEY": KEY, "GEMINI_API_KEY": "other"}, KEY),
        ({"api_key": "${GEMINI_API_KEY}"}, {"GEMINI_API_KEY": f" {KEY}\n"}, KEY),
        # Read once, not again.
        ({"api_key": "${GEMINI_API_KEY}"}, {"GEMINI_API_KEY": "${B}", "B": "x"}, "${B}"),
    ],
)
def test_api_key_resolution(
    base: Path, top: dict[str, Any], env: dict[str, str], key: str | None
) -> None:
    assert load(deck(**top), base, env).api_key == key


@pytest.mark.parametrize(
    ("top", "env", "url"),
    [
        ({}, {}, "https://generativelanguage.googleapis.com"),
        ({}, {"GOOGLE_GEMINI_BASE_URL": "http://127.0.0.1:8000/"}, "http://127.0.0.1:8000"),
        ({"base_url": "https://proxy.example/gemini//"}, {}, "https://proxy.example/gemini"),
        ({"base_url": "HTTPS://[::1]:9/"}, {}, "HTTPS://[::1]:9"),
        # The seed design's spelling: the variable, else Google's, as with no base_url.
        ({"base_url": "${GOOGLE_GEMINI_BASE_URL}"}, {ENV_URL: "https://x.example"}, "https://x.example"),
        ({"base_url": " ${GOOGLE_GEMINI_BASE_URL}"}, {}, DEFAULT_BASE_URL),
    ],
)  # fmt: skip
def test_base_url_resolution(
    base: Path, top: dict[str, Any], env: dict[str, str], url: str
) -> None:
    assert load(deck(**top), base, env).base_url == url


OTHER_HOST = "base_url: requests and the key go to proxy.example (not Google's endpoint)"
FROM_ENV = OTHER_HOST.replace("base_url", "GOOGLE_GEMINI_BASE_URL")
LOOK_ALIKE = "generativelanguage.googleapis.com.evil.example"
PLAIN = "plain http: the key travels unencrypted"
ALLOW = {"allow_insecure_http": True}
THIS_MACHINE = (
    "base_url: requests and the key go to port {} on this machine, to a server of this "
    "user's only (not Google's endpoint)"
)


@pytest.mark.parametrize(
    ("top", "env", "notices"),
    [
        ({}, {}, ()),
        ({"base_url": "https://generativelanguage.googleapis.com/v1beta"}, {}, ()),
        ({"base_url": "https://proxy.example/gemini"}, {}, (OTHER_HOST,)),
        ({"base_url": "https://PROXY.example:8443"}, {}, (OTHER_HOST,)),
        ({"base_url": "https://u:pw@proxy.example"}, {}, (OTHER_HOST,)),
        ({}, {ENV_URL: "https://proxy.example"}, (FROM_ENV,)),
        (
            {"base_url": f"https://{LOOK_ALIKE}"},
            {},
            (f"base_url: requests and the key go to {LOOK_ALIKE} (not Google's endpoint)",),
        ),
        # This machine, over http or https: named by its port, which may be another
        # user's (the client sends to a server of this user's only).
        ({"base_url": "http://127.0.0.1:8765"}, {}, (THIS_MACHINE.format(8765),)),
        ({"base_url": "http://127.9.8.7"}, {}, (THIS_MACHINE.format(80),)),
        ({"base_url": "http://localhost:8080/v1"}, {}, (THIS_MACHINE.format(8080),)),
        ({"base_url": "http://[::1]:9"}, {}, (THIS_MACHINE.format(9),)),
        ({"base_url": "https://localhost"}, {}, (THIS_MACHINE.format(443),)),
        (
            {},
            {ENV_URL: "http://127.0.0.1:1"},
            (THIS_MACHINE.format(1).replace("base_url", ENV_URL),),
        ),
        # run --emulator's own emulator, reached in process only.
        ({}, {ENV_URL: EMULATOR_BASE_URL}, ()),
        # Plain http elsewhere only when asked for, and said every time.
        ({"base_url": "http://proxy.example", **ALLOW}, {}, (f"{OTHER_HOST}; {PLAIN}",)),
        (
            {"base_url": "http://generativelanguage.googleapis.com", **ALLOW},
            {},
            (f"base_url: {PLAIN}",),
        ),
        (
            ALLOW,
            {ENV_URL: "http://10.0.0.2:80"},
            (f"{ENV_URL}: requests and the key go to 10.0.0.2 (not Google's endpoint); {PLAIN}",),
        ),
        ({"base_url": "https://proxy.example", **ALLOW}, {}, (OTHER_HOST,)),
        ({"allow_insecure_http": False}, {}, ()),
    ],
)
def test_where_the_key_goes_is_said_when_it_is_not_google(
    base: Path, top: dict[str, Any], env: dict[str, str], notices: tuple[str, ...]
) -> None:
    config = load(deck(**top), base, env)
    assert config.notices == notices
    assert all("\n" not in notice and "pw" not in notice for notice in notices)


@pytest.mark.parametrize(
    ("top", "env", "where"),
    [
        ({"base_url": "http://proxy.example"}, {}, "base_url"),
        ({"base_url": "HTTP://proxy.example:8080/gemini"}, {}, "base_url"),
        ({"base_url": "http://generativelanguage.googleapis.com"}, {}, "base_url"),
        ({"base_url": "http://0.0.0.0:8080"}, {}, "base_url"),
        ({"base_url": "http://localhost.proxy.example"}, {}, "base_url"),
        ({"base_url": "http://emulator"}, {}, "base_url"),
        ({"allow_insecure_http": False}, {ENV_URL: "http://proxy.example"}, ENV_URL),
    ],
)  # fmt: skip
def test_plain_http_off_this_machine_is_refused_unless_allowed(
    base: Path, top: dict[str, Any], env: dict[str, str], where: str
) -> None:
    error = refusal(deck(**top), base, env)
    assert error.field == where
    assert "would send the key unencrypted" in error.problem
    assert error.problem.endswith('use https, or set "allow_insecure_http": true to accept that')


def test_allow_insecure_http_is_a_boolean(base: Path) -> None:
    error = refusal(deck(allow_insecure_http="yes", base_url="http://proxy.example"), base)
    assert (error.field, error.problem) == (
        "allow_insecure_http",
        "must be true or false, got string",
    )
    assert refusal(deck({"allow_insecure_http": True}), base).field == (
        "slide 1 (slides[0]).allow_insecure_http"
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        # Escaped: a right-to-left override must not make the line read as another host.
        ("https://xn--80ak6aa92e.com", "xn--80ak6aa92e.com"),
        ("https://moc.elgoog\u202e.example", "moc.elgoog\\u202e.example"),
        ("https://éxample.com", "\\xe9xample.com"),
        # Cut at the front, never at the end that names who owns it.
        ("https://" + "a" * 300 + ".evil.example", "..." + ("a" * 300 + ".evil.example")[-77:]),
    ],
)
def test_the_host_named_is_escaped_and_keeps_its_end(base: Path, url: str, shown: str) -> None:
    (notice,) = load(deck(base_url=url), base).notices
    assert notice == f"base_url: requests and the key go to {shown} (not Google's endpoint)"


@pytest.mark.parametrize(
    ("top", "env", "where"),
    [
        ({"base_url": f"https://{KEY.lower()}.proxy.example"}, {"GEMINI_API_KEY": KEY}, "base_url"),
        ({"base_url": f"https://proxy.example/k/{KEY}"}, {"GEMINI_API_KEY": KEY}, "base_url"),
        ({"base_url": f"http://127.0.0.1:8/{KEY[:12]}"}, {"GEMINI_API_KEY": KEY}, "base_url"),
        ({}, {ENV_URL: f"https://proxy.example/{KEY}", "GEMINI_API_KEY": KEY}, ENV_URL),
        # Shaped as a Google key: whichever key it is, it is not sent in a URL.
        ({"base_url": f"https://proxy.example/{KEY}"}, {}, "base_url"),
    ],
)  # fmt: skip
def test_a_url_holding_the_key_is_refused_and_never_shown(
    base: Path, top: dict[str, Any], env: dict[str, str], where: str
) -> None:
    error = refusal(deck(**top), base, env)
    assert error.field == where
    assert error.problem == (
        "holds an API key; remove it: the key goes only in the x-goog-api-key header"
    )


NOT_READ = (
    '${OTHER_SECRET} is not read: a config reads the key only as "${GEMINI_API_KEY}" or '
    '"${GOOGLE_API_KEY}"; put the key in one of those variables'
)
ONLY = 'must be "${GEMINI_API_KEY}" or "${GOOGLE_API_KEY}" alone, or the key itself'
NOT_EXPANDED = (
    '${...} is not expanded here but as the whole "${GOOGLE_GEMINI_BASE_URL}"; write the URL '
    "itself (the key goes only in the x-goog-api-key header, never in a URL)"
)


@pytest.mark.parametrize(
    ("top", "env", "where", "problem"),
    [
        ({"api_key": "${1KEY}"}, {}, "api_key", "malformed"),
        ({"api_key": "${UNSET}${1KEY}"}, {}, "api_key", "malformed"),
        ({"api_key": "${}"}, {}, "api_key", "malformed"),
        ({"api_key": "${MY_KEY"}, {"MY_KEY": KEY}, "api_key", "unclosed"),
        ({"api_key": "${OTHER_SECRET}"}, {"OTHER_SECRET": KEY}, "api_key", NOT_READ),
        ({"api_key": "${MY_KEY}"}, {}, "api_key", NOT_READ.replace("OTHER_SECRET", "MY_KEY")),
        ({"api_key": "${GEMINI_API_KEY}${B}"}, {}, "api_key", "${B} is not read"),
        ({"api_key": "x${GEMINI_API_KEY}"}, {}, "api_key", ONLY),
        ({"api_key": "${GEMINI_API_KEY}${GOOGLE_API_KEY}"}, {}, "api_key", ONLY),
        # Never in base_url: there it could only put the key in a URL or a DNS query.
        ({"base_url": "${GOOGLE_GEMINI_BASE_URL}/v1"}, {}, "base_url", NOT_EXPANDED),
        ({"base_url": "https://${GEMINI_API_KEY}.example"}, {}, "base_url", NOT_EXPANDED),
        ({"base_url": "http://0.0.0.0:9/k/${GEMINI_API_KEY}", **ALLOW}, {}, "base_url",
         NOT_EXPANDED),
    ],
)  # fmt: skip
def test_variable_references_that_are_not_read(
    base: Path, top: dict[str, Any], env: dict[str, str], where: str, problem: str
) -> None:
    error = refusal(deck(**top), base, env)
    assert error.field == where
    assert problem in error.problem


SECRET = "s3cr3t-value-AIzaSyD"


@pytest.mark.parametrize(
    ("top", "env"),
    [
        ({"api_key": f"{SECRET} x"}, {}),
        ({"api_key": "${GEMINI_API_KEY}"}, {"GEMINI_API_KEY": f"{SECRET}\x01"}),
        ({"api_key": "${OTHER}"}, {"OTHER": SECRET}),
        ({}, {"GEMINI_API_KEY": f"{SECRET} x"}),
        ({}, {"GOOGLE_API_KEY": f"é{SECRET}"}),
        ({}, {ENV_URL: f"ftp://{SECRET}"}),
        ({}, {ENV_URL: f"https://h/?{SECRET}"}),
        ({"base_url": f"https://u:{SECRET}@h:nope"}, {}),
        ({}, {"GOOGLE_GEMINI_BASE_URL": f"{SECRET} http://h"}),
        ({"api_key": "${GEMINI_API_KEY}x${MISSING}"}, {"GEMINI_API_KEY": SECRET}),
        ({"api_key": "${GEMINI_API_KEY}", "quality": 0}, {"GEMINI_API_KEY": SECRET}),
        ({"api_key": f"${SECRET}"}, {}),
    ],
)
def test_no_message_shows_a_secret(base: Path, top: dict[str, Any], env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as info:  # at loading, or (a key the environment
        load(deck(**top), base, env).require_key()  # spoilt) when something would send
    assert SECRET not in str(info.value)


def test_a_model_google_lists_for_shutdown_is_sent_with_a_notice(base: Path) -> None:
    # Listed, not known to be gone: the id is kept, and the notice names the way out.
    config = load(deck(model="gemini-2.5-flash-image"), base)
    assert config.model == "gemini-2.5-flash-image"
    assert config.notices == (
        "model: Google lists gemini-2.5-flash-image for shutdown on 2026-10-02; "
        "if the service answers 404, use gemini-3.1-flash-image",
    )
    proxied = load(deck(model="gemini-2.5-flash-image", base_url="https://proxy.example"), base)
    assert not [notice for notice in proxied.notices if "shutdown" in notice]


def test_temperature_is_read_but_not_sent_and_said_once(base: Path) -> None:
    slides = [{"number": 1, "prompt": "a", "temperature": 0.2}, {"number": 2, "prompt": "b"}]
    config = load(deck(temperature=0.5, slides=slides), base)
    assert [slide.temperature for slide in config.slides] == [0.2, 0.5]
    assert config.notices == (
        "temperature: Google deprecated the sampling parameters (temperature, top_p, top_k) "
        "on 2026-07-21; it is not sent (the slides made with it are kept as they are)",
    )


def test_the_sdks_variables_choose_vertex_its_project_and_location(base: Path) -> None:
    env = {
        "GOOGLE_GENAI_USE_VERTEXAI": "True",
        "GOOGLE_CLOUD_PROJECT": "deck-project",
        "GEMINI_API_KEY": KEY,  # a Developer API key in the environment is not sent there
    }
    config = load(deck(), base, env)
    assert (config.backend, config.project, config.location) == ("vertex", "deck-project", "global")
    assert (config.api_key, config.base_url) == (None, "https://aiplatform.googleapis.com")
    assert config.require_key() == ""
    regional = load(deck(backend="vertex", location="us-central1"), base)
    assert regional.base_url == "https://us-central1-aiplatform.googleapis.com"
    assert regional.project is None  # the credentials' own, read by the run
    assert load(deck(), base, {"GOOGLE_CLOUD_PROJECT": "p-project"}).backend == "gemini"


@pytest.mark.parametrize(
    ("top", "field", "problem"),
    [
        ({"backend": "cloud"}, "backend", 'must be "gemini" (an API key) or "vertex"'),
        ({"project": "deck-project"}, "project", 'is for "backend": "vertex" only'),
        ({"backend": "vertex", "api_key": "${GEMINI_API_KEY}"}, "api_key", "takes no API key"),
        ({"backend": "vertex", "mode": "batch-api"}, "mode", "not supported on Vertex AI yet"),
        ({"backend": "vertex", "location": "US Central"}, "location", "not a Google Cloud"),
    ],
    ids=["unknown backend", "project without vertex", "key", "batch", "location"],
)
def test_vertex_settings_refused_in_one_line(
    base: Path, top: dict[str, Any], field: str, problem: str
) -> None:
    error = refusal(deck(**top), base, {"GEMINI_API_KEY": KEY})
    assert error.field == field
    assert problem in error.problem
    assert "\n" not in error.problem
