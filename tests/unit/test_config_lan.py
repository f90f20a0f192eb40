"""The `lan` option: true/false from config.toml, env or the command line, and the bind address."""

import pytest

from edge_node.config import ConfigError, load_config, render_toml


@pytest.mark.parametrize("env,expected", [({}, "127.0.0.1"), ({"EDGE_NODE_LAN": "1"}, "0.0.0.0"),
                                          ({"EDGE_NODE_LAN": "yes"}, "0.0.0.0"),
                                          ({"EDGE_NODE_LAN": "off"}, "127.0.0.1"),
                                          ({"EDGE_NODE_LAN": "true",
                                            "EDGE_NODE_HOST": "192.168.1.10"}, "192.168.1.10"),
                                          ({"EDGE_NODE_HOST": "0.0.0.0"}, "0.0.0.0")])
def test_listen_address(tmp_path, env, expected):
    assert load_config(tmp_path, environ=env).listen_host == expected


def test_lan_in_config_toml_and_command_line(tmp_path):
    (tmp_path / "config.toml").write_text("lan = true\n", encoding="utf-8")
    cfg = load_config(tmp_path, environ={})
    assert cfg.lan is True and cfg.listen_host == "0.0.0.0"
    assert load_config(tmp_path, overrides={"lan": False}, environ={}).listen_host == "127.0.0.1"
    assert "lan = true" in render_toml({"lan": True})


@pytest.mark.parametrize("text", ["lan = 'maybe'\n", "lan = 1\n"])
def test_lan_refuses_what_is_not_true_or_false(tmp_path, text):
    (tmp_path / "config.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="expected true or false"):
        load_config(tmp_path, environ={})


def test_small_log_sizes_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="at least 10000"):
        load_config(tmp_path, environ={"EDGE_NODE_LOG_MAX_BYTES": "100"})
