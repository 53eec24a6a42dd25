"""Configuration loading: defaults, path resolution, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.config import ConfigError, load_config, parse_config

BASE = Path("/srv/cw")


def parse(doc: dict) -> object:
    return parse_config(doc, base=BASE)


def test_empty_document_gives_defaults() -> None:
    """An empty config is valid and uses the documented defaults."""
    cfg = parse_config({}, base=BASE)
    assert (cfg.server.host, cfg.server.port, cfg.server.max_batch) == ("127.0.0.1", 8080, 100)
    assert (cfg.server.latency_target_ms, cfg.server.latency_headroom) == (10.0, 2.0)
    assert cfg.keys.file == BASE / "keys.json"
    assert cfg.storage.url == "sqlite:///srv/cw/chatwarden.db"


def test_relative_sqlite_url_resolves_against_the_config_directory() -> None:
    """sqlite:rel.db is made absolute relative to the config file's directory."""
    cfg = parse_config({"storage": {"url": "sqlite:data/x.db"}}, base=BASE)
    assert cfg.storage.url == "sqlite:///srv/cw/data/x.db"


def test_postgres_url_is_kept() -> None:
    """A PostgreSQL URL passes through unchanged."""
    url = "postgresql://postgres@127.0.0.1:5432/test"
    assert parse_config({"storage": {"url": url}}, base=BASE).storage.url == url


@pytest.mark.parametrize(
    ("doc", "names"),
    [
        ({"server": {"port": "80"}}, "[server] port"),  # wrong type
        ({"server": {"port": 70000}}, "[server] port"),  # out of range
        ({"server": {"max_batch": 0}}, "[server] max_batch"),  # zero batch
        ({"server": {"prot": 1}}, "[server] prot"),  # typo of a key
        ({"server": {"request_timeout": True}}, "[server] request_timeout"),  # bool is not a number
        (
            {"server": {"latency_target_per_message_ms": -1}},
            "[server] latency_target_per_message_ms",
        ),  # negative allowance
        ({"server": {"latency_headroom": 0.5}}, "[server] latency_headroom"),  # below 1
        ({"server": {"latency_headroom": True}}, "[server] latency_headroom"),  # not a number
        ({"storage": {"url": "mysql://x"}}, "[storage] url"),  # unsupported backend
        ({"keys": {"regions": []}}, "[keys] regions"),  # no region
        (
            {"keys": {"regions": ["eu"], "default_region": "us"}},
            "[keys] default_region",
        ),  # not listed
        ({"redact": {"operators": {"CARD": "mask"}}}, "[redact.operators] CARD"),  # unknown type
        ({"redact": {"operators": {"IBAN": "blur"}}}, "[redact.operators] IBAN"),  # unknown kind
        (
            {"redact": {"operators": {"IBAN": {"kind": "mask", "length": 3}}}},
            "[redact.operators] IBAN",
        ),  # option of another kind
        ({"redact": {"workers": -1}}, "[redact] workers"),  # negative workers
        ({"upstream": {"url": "ftp://x"}}, "[upstream] url"),  # not http
        (
            {"auth": {"tokens": [{"id": "abcd", "role": "root", "hash": "x"}]}},
            "role",
        ),  # unknown role
        (
            {"auth": {"tokens": [{"id": "abcd", "role": "admin", "hash": "cw_abcd_x"}]}},
            "hash",
        ),  # a raw token pasted
        ({"tenant": {"id": "a b"}}, "[tenant] id"),  # space in tenant
        ({"retention": {"purposes": {"risk_control": 0}}}, "[retention] purposes"),  # zero days
        ({"logging": {"level": "loud"}}, "[logging] level"),  # unknown level
        ({"server": 3}, "[server]"),  # a key where a table belongs
    ],
)
def test_bad_values_are_refused_naming_the_key(doc: dict, names: str) -> None:
    """Every invalid key raises ConfigError whose message names that key."""
    with pytest.raises(ConfigError) as err:
        parse_config(doc, base=BASE)
    assert names in str(err.value)


def test_duplicate_token_ids_are_refused() -> None:
    """Two tokens with one id cannot both be configured."""
    entry = {"id": "abcd", "role": "admin", "hash": "hmac-sha256:" + "0" * 64}
    with pytest.raises(ConfigError, match="duplicate"):
        parse_config({"auth": {"tokens": [entry, dict(entry)]}}, base=BASE)


def test_operator_shorthand_and_table_are_accepted() -> None:
    """An operator may be written as a kind string or as a table with options."""
    cfg = parse_config(
        {
            "redact": {
                "operators": {"IBAN": "hash", "CREDIT_CARD": {"kind": "mask", "keep_last": 4}}
            }
        },
        base=BASE,
    )
    assert cfg.redact.operators["IBAN"] == {"kind": "hash"}
    assert cfg.redact.operators["CREDIT_CARD"]["keep_last"] == 4


def test_retention_takes_the_longest_purpose() -> None:
    """A message serving several purposes is kept as long as the longest needs."""
    cfg = parse_config(
        {"retention": {"default_days": 10, "purposes": {"a": 5, "b": 700}}}, base=BASE
    )
    assert cfg.retention.days_for(frozenset({"a", "b"})) == 700
    assert cfg.retention.days_for(frozenset()) == 10


def test_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    """A missing config file points at chatwarden init."""
    with pytest.raises(ConfigError, match="chatwarden init"):
        load_config(tmp_path / "nope.toml")


def test_invalid_toml_is_refused(tmp_path: Path) -> None:
    """A file that is not TOML is refused as such."""
    p = tmp_path / "c.toml"
    p.write_text("[server\nport = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(p)


def test_latency_headroom_zero_turns_learning_off_and_one_is_allowed() -> None:
    """0 (off) and any factor from 1 up are valid."""
    for h in (0, 1, 3.5):
        server = parse_config({"server": {"latency_headroom": h}}, base=BASE).server
        assert server.latency_headroom == h


def test_message_budget_must_hold_a_full_batch() -> None:
    """max_in_flight_messages below max_batch is refused, naming the key."""
    with pytest.raises(ConfigError, match="max_in_flight_messages"):
        parse_config({"server": {"max_batch": 50, "max_in_flight_messages": 10}}, base=BASE)
