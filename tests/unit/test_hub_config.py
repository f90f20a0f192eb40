"""Hub options are checked when the config loads, not at the first push that needs them."""

import pytest

from edge_node.config import ConfigError
from sync.hub.config import load_hub_config


@pytest.mark.parametrize("value", ["http://example.org/dan-cu", "fil:population.json",
                                   "file:../elsewhere.json", "file:/etc/passwd"])
def test_a_population_source_the_hub_cannot_read_is_refused_at_load(tmp_path, value):
    with pytest.raises(ConfigError, match="population_source"):
        load_hub_config(tmp_path, environ={"SYNC_HUB_POPULATION_SOURCE": value})


@pytest.mark.parametrize("value", ["file:population.json", "file:dan-cu.json", "file"])
def test_a_file_in_the_hub_home_is_accepted(tmp_path, value):
    cfg = load_hub_config(tmp_path, environ={"SYNC_HUB_POPULATION_SOURCE": value})
    assert cfg.population_source == value
