"""Settings (SPEC section 3): defaults, parsing, one-line errors naming the
variable, secrets kept out of every rendering, flags and overrides."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bridge.settings import (
    Settings,
    SettingsError,
    add_flags,
    flag_of,
    overrides_from,
)

SECRETS = {
    "NATS_PASSWORD": "pw-Zq81-secret",
    "NATS_TOKEN": "tok-Hx7Lm-secret",
    "REALTIME_API_KEYS": "key-one-Pa9s,key-two-Rb4t",
}
# Section 3's table, and REALTIME_DATA_DIR from section 2.
SPEC_VARIABLES = {
    "REALTIME_ENABLED",
    "REALTIME_TOPIC_LIMIT",
    "REALTIME_ORIGINS",
    "REALTIME_HOST",
    "REALTIME_PORT",
    "REALTIME_TLS_CERT",
    "REALTIME_TLS_KEY",
    "NATS_URL",
    "NATS_CREDS",
    "NATS_TOKEN",
    "NATS_USER",
    "NATS_PASSWORD",
    "REALTIME_SUBJECT_PREFIX",
    "REALTIME_API_KEYS",
    "REALTIME_IDLE_TIMEOUT",
    "REALTIME_SESSION_IDLE",
    "REALTIME_SESSION_TTL",
    "REALTIME_SEND_QUEUE_BYTES",
    "REALTIME_MAX_MESSAGE",
    "REALTIME_STREAM_REPLICAS",
    "REALTIME_WORKERS",
    "REALTIME_DATA_DIR",
}
SECRET_TEXTS = ["pw-Zq81-secret", "tok-Hx7Lm-secret", "key-one-Pa9s", "key-two-Rb4t"]


def load_error(env: dict[str, str]) -> str:
    with pytest.raises(SettingsError) as refused:
        Settings.load(env)
    return str(refused.value)


# -- defaults ---------------------------------------------------------------------


def test_defaults_are_the_spec_table() -> None:
    settings = Settings.load({})
    assert settings.enabled is True
    assert settings.topic_limit == 32
    assert settings.origins is None
    assert settings.host == "0.0.0.0"
    assert settings.port == 9009
    assert settings.tls_cert is None
    assert settings.tls_key is None
    assert settings.nats_url is None
    assert settings.nats_creds is None
    assert settings.nats_token is None
    assert settings.nats_user is None
    assert settings.nats_password is None
    assert settings.subject_prefix == "linkpeek"
    assert settings.api_keys is None
    assert settings.idle_timeout == 75
    assert settings.session_idle == 1800
    assert settings.session_ttl == 86400
    assert settings.send_queue_bytes == 1048576
    assert settings.max_message == 65536
    assert settings.stream_replicas == 1
    assert settings.workers == 1
    assert settings.data_dir == Path("./.realtime")
    assert settings.embedded_nats


def test_loading_nothing_equals_the_plain_defaults() -> None:
    assert Settings.load({}) == Settings()


def test_public_names_every_non_secret_setting_by_variable() -> None:
    shown = Settings.load({}).public()
    assert shown["REALTIME_ENABLED"] is True
    assert shown["REALTIME_TOPIC_LIMIT"] == 32
    assert shown["REALTIME_PORT"] == 9009
    assert shown["REALTIME_SUBJECT_PREFIX"] == "linkpeek"
    assert shown["REALTIME_DATA_DIR"] == ".realtime"
    assert shown["NATS_URL"] is None
    assert "NATS_USER" in shown
    assert not {"NATS_PASSWORD", "NATS_TOKEN", "REALTIME_API_KEYS"} & set(shown)


# -- parsing ----------------------------------------------------------------------


def test_values_are_parsed_from_text() -> None:
    settings = Settings.load(
        {
            "REALTIME_ENABLED": "0",
            "REALTIME_TOPIC_LIMIT": " 5 ",
            "REALTIME_ORIGINS": "https://a.example, https://b.example,",
            "REALTIME_PORT": "0",
            "NATS_URL": "nats://n1:4222,nats://n2:4222",
            "REALTIME_IDLE_TIMEOUT": "2.5",
            "REALTIME_STREAM_REPLICAS": "3",
            "REALTIME_LOG_LEVEL": "debug",
        }
    )
    assert settings.enabled is False
    assert settings.topic_limit == 5
    assert settings.origins == ("https://a.example", "https://b.example")
    assert settings.port == 0
    assert settings.nats_url == ("nats://n1:4222", "nats://n2:4222")
    assert not settings.embedded_nats
    assert settings.idle_timeout == 2.5
    assert settings.stream_replicas == 3
    assert settings.log_level == "DEBUG"


def test_public_shows_lists_and_paths_as_plain_values() -> None:
    shown = Settings.load({"REALTIME_ORIGINS": "*", "REALTIME_DATA_DIR": "/d"}).public()
    assert shown["REALTIME_ORIGINS"] == ["*"]
    assert shown["REALTIME_DATA_DIR"] == "/d"


def test_an_empty_list_means_unset() -> None:
    settings = Settings.load({"REALTIME_ORIGINS": " , ", "NATS_URL": ""})
    assert settings.origins is None
    assert settings.nats_url is None
    assert settings.embedded_nats


def test_existing_tls_files_are_accepted_together(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("c")
    key.write_text("k")
    settings = Settings.load(
        {"REALTIME_TLS_CERT": str(cert), "REALTIME_TLS_KEY": str(key)}
    )
    assert (settings.tls_cert, settings.tls_key) == (cert, key)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("REALTIME_ENABLED", "2"),
        ("REALTIME_ENABLED", "maybe"),
        ("REALTIME_TOPIC_LIMIT", "0"),
        ("REALTIME_TOPIC_LIMIT", "-3"),
        ("REALTIME_TOPIC_LIMIT", "many"),
        ("REALTIME_TOPIC_LIMIT", "1.5"),
        ("REALTIME_PORT", "65536"),
        ("REALTIME_PORT", "-1"),
        ("REALTIME_PORT", "http"),
        ("REALTIME_TLS_CERT", "/nonexistent/cert.pem"),
        ("REALTIME_TLS_KEY", "/nonexistent/key.pem"),
        ("NATS_CREDS", "/nonexistent/user.creds"),
        ("REALTIME_SUBJECT_PREFIX", "link peek"),
        ("REALTIME_SUBJECT_PREFIX", "linkpeek."),
        ("REALTIME_SUBJECT_PREFIX", "a..b"),
        ("REALTIME_SUBJECT_PREFIX", "link.*"),
        ("REALTIME_SUBJECT_PREFIX", "link.>"),
        ("REALTIME_IDLE_TIMEOUT", "0"),
        ("REALTIME_IDLE_TIMEOUT", "-5"),
        ("REALTIME_IDLE_TIMEOUT", "nan"),
        ("REALTIME_IDLE_TIMEOUT", "soon"),
        ("REALTIME_SESSION_IDLE", "0"),
        ("REALTIME_SESSION_TTL", "-1"),
        ("REALTIME_SEND_QUEUE_BYTES", "0"),
        ("REALTIME_SEND_QUEUE_BYTES", "1MB"),
        ("REALTIME_MAX_MESSAGE", "0"),
        ("REALTIME_STREAM_REPLICAS", "0"),
        ("REALTIME_STREAM_REPLICAS", "6"),
        ("REALTIME_WORKERS", "0"),
        ("REALTIME_LOG_LEVEL", "TRACE"),
    ],
)
def test_an_invalid_value_is_one_line_starting_with_the_variable(
    variable: str, value: str
) -> None:
    message = load_error({variable: value})
    assert message.startswith(f"{variable}=")
    assert "\n" not in message


def test_a_non_numeric_value_is_reported_as_not_a_number() -> None:
    assert load_error({"REALTIME_PORT": "http"}) == (
        "REALTIME_PORT='http': must be a number"
    )


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ("REALTIME_TLS_CERT", "REALTIME_TLS_KEY"),
        ("REALTIME_TLS_KEY", "REALTIME_TLS_CERT"),
    ],
)
def test_tls_cert_and_key_go_together(tmp_path: Path, given: str, missing: str) -> None:
    pem = tmp_path / "one.pem"
    pem.write_text("x")
    message = load_error({given: str(pem)})
    assert message.startswith("REALTIME_TLS_")
    assert given in message
    assert missing in message


@pytest.mark.parametrize("given", ["NATS_USER", "NATS_PASSWORD"])
def test_nats_user_and_password_go_together(given: str) -> None:
    value = SECRETS["NATS_PASSWORD"] if given == "NATS_PASSWORD" else "alice"
    message = load_error({given: value})
    assert message.startswith("NATS_")
    assert "NATS_USER" in message
    assert "NATS_PASSWORD" in message
    assert SECRETS["NATS_PASSWORD"] not in message


# -- secrets ----------------------------------------------------------------------


def with_secrets(**more: str) -> dict[str, str]:
    return {"NATS_USER": "alice", **SECRETS, **more}


def test_secrets_are_loaded() -> None:
    settings = Settings.load(with_secrets())
    assert settings.nats_password == SECRETS["NATS_PASSWORD"]
    assert settings.nats_token == SECRETS["NATS_TOKEN"]
    assert settings.api_keys == ("key-one-Pa9s", "key-two-Rb4t")


def test_secrets_never_appear_in_repr_str_or_public() -> None:
    settings = Settings.load(with_secrets())
    for rendering in (repr(settings), str(settings), repr(settings.public())):
        for secret in SECRET_TEXTS:
            assert secret not in rendering
    assert "alice" in repr(settings)


def test_secrets_never_appear_in_an_error_about_another_variable() -> None:
    message = load_error(with_secrets(REALTIME_PORT="nope"))
    assert message.startswith("REALTIME_PORT=")
    for secret in SECRET_TEXTS:
        assert secret not in message


# -- flags and overrides ----------------------------------------------------------


def test_flag_of_drops_the_realtime_prefix() -> None:
    assert flag_of("REALTIME_TOPIC_LIMIT") == "--topic-limit"
    assert flag_of("REALTIME_SEND_QUEUE_BYTES") == "--send-queue-bytes"
    assert flag_of("NATS_URL") == "--nats-url"


def test_overrides_win_over_the_environment() -> None:
    settings = Settings.load(
        {"REALTIME_TOPIC_LIMIT": "5", "REALTIME_PORT": "8000"},
        {"REALTIME_TOPIC_LIMIT": "7"},
    )
    assert settings.topic_limit == 7
    assert settings.port == 8000


def test_an_override_alone_is_enough() -> None:
    assert Settings.load({}, {"REALTIME_WORKERS": "4"}).workers == 4


def test_an_invalid_override_names_its_variable() -> None:
    with pytest.raises(SettingsError, match=r"^REALTIME_WORKERS="):
        Settings.load({"REALTIME_WORKERS": "2"}, {"REALTIME_WORKERS": "none"})


def test_parsed_flags_become_overrides() -> None:
    parser = argparse.ArgumentParser()
    add_flags(parser)
    namespace = parser.parse_args(["--topic-limit", "9", "--nats-url", "nats://x"])
    assert overrides_from(namespace) == {
        "REALTIME_TOPIC_LIMIT": "9",
        "NATS_URL": "nats://x",
    }
    settings = Settings.load({"REALTIME_TOPIC_LIMIT": "3"}, overrides_from(namespace))
    assert settings.topic_limit == 9


def test_every_variable_has_a_flag() -> None:
    parser = argparse.ArgumentParser()
    add_flags(parser)
    variables = set(Settings().public()) | set(SECRETS)
    assert variables >= SPEC_VARIABLES
    for variable in variables:
        namespace = parser.parse_args([flag_of(variable), "x"])
        assert overrides_from(namespace) == {variable: "x"}
