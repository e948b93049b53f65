"""The instance catalog: its facts, its lookups, and how it refuses a broken data file."""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path

import pytest
import yaml

from components.catalog import (
    Catalog,
    CatalogDataError,
    InstanceType,
    UnknownInstanceType,
    load_catalog,
    resolve,
    select,
)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


# --- the facts that must be right -------------------------------------------------

EFA_INTERFACES = [
    ("p4d.24xlarge", 4),
    ("p4de.24xlarge", 4),
    ("p5.48xlarge", 32),
    ("p5e.48xlarge", 32),
    ("p5en.48xlarge", 16),
    ("trn1.2xlarge", 0),
    ("trn1.32xlarge", 8),
    ("trn1n.32xlarge", 16),
    ("trn2.48xlarge", 16),
    ("g5.4xlarge", 0),
    ("g5.8xlarge", 1),
    ("g5.12xlarge", 1),
    ("g5.48xlarge", 1),
    ("g6.4xlarge", 0),
    ("g6.8xlarge", 1),
    ("g6.48xlarge", 1),
    ("g6e.4xlarge", 0),
    ("g6e.8xlarge", 1),
    ("g6e.12xlarge", 1),
    ("g6e.16xlarge", 1),
    ("g6e.24xlarge", 2),
    ("g6e.48xlarge", 4),
    ("inf2.xlarge", 0),
    ("inf2.8xlarge", 0),
    ("inf2.24xlarge", 0),
    ("inf2.48xlarge", 0),
]


@pytest.mark.parametrize(("name", "interfaces"), EFA_INTERFACES)
def test_efa_interfaces(catalog: Catalog, name: str, interfaces: int) -> None:
    instance_type = catalog.get(name)
    assert instance_type.efa_interfaces == interfaces
    assert instance_type.supports_efa is (interfaces > 0)


NETWORK_GBPS = [
    ("p4d.24xlarge", 400),
    ("p4de.24xlarge", 400),
    ("p5.48xlarge", 3200),
    ("p5e.48xlarge", 3200),
    ("p5en.48xlarge", 3200),
    ("trn1.32xlarge", 800),
    ("trn1n.32xlarge", 1600),
    ("trn2.48xlarge", 3200),
    ("g6e.48xlarge", 400),
    ("g5.48xlarge", 100),
    ("g6.48xlarge", 100),
    ("inf2.48xlarge", 100),
]


@pytest.mark.parametrize(("name", "gbps"), NETWORK_GBPS)
def test_network_bandwidth(catalog: Catalog, name: str, gbps: int) -> None:
    assert catalog.get(name).network_gbps == gbps


ACCELERATORS = [
    # name, kind (the pool vocabulary: components/accelerators.py), accelerator, devices, GiB per device
    ("p4d.24xlarge", "gpu", "a100", 8, 40),
    ("p4de.24xlarge", "gpu", "a100", 8, 80),
    ("p5.48xlarge", "gpu", "h100", 8, 80),
    ("p5e.48xlarge", "gpu", "h200", 8, 141),
    ("p5en.48xlarge", "gpu", "h200", 8, 141),
    ("g5.xlarge", "gpu", "a10g", 1, 24),
    ("g5.12xlarge", "gpu", "a10g", 4, 24),
    ("g5.48xlarge", "gpu", "a10g", 8, 24),
    ("g6.48xlarge", "gpu", "l4", 8, 24),
    ("g6e.12xlarge", "gpu", "l40s", 4, 48),
    ("g6e.48xlarge", "gpu", "l40s", 8, 48),
    ("trn1.2xlarge", "neuron", "trainium", 1, 32),
    ("trn1.32xlarge", "neuron", "trainium", 16, 32),
    ("trn1n.32xlarge", "neuron", "trainium", 16, 32),
    ("trn2.48xlarge", "neuron", "trainium2", 16, 96),
    ("inf2.xlarge", "neuron", "inferentia2", 1, 32),
    ("inf2.48xlarge", "neuron", "inferentia2", 12, 32),
    ("m7i.xlarge", "cpu", None, 0, 0),
]


@pytest.mark.parametrize(("name", "kind", "accelerator", "count", "gib"), ACCELERATORS)
def test_accelerators(catalog: Catalog, name: str, kind: str, accelerator: str | None, count: int, gib: int) -> None:
    instance_type = catalog.get(name)
    assert instance_type.kind == kind
    assert instance_type.accelerator == accelerator
    assert instance_type.accelerator_count == count
    assert instance_type.accelerator_memory_gib == gib
    assert instance_type.total_accelerator_memory_gib == count * gib


@pytest.mark.parametrize(
    ("name", "cores"),
    [
        ("trn1.2xlarge", 2),
        ("trn1.32xlarge", 32),
        ("trn2.48xlarge", 128),
        ("inf2.xlarge", 2),
        ("inf2.48xlarge", 24),
    ],
)
def test_neuron_cores_per_instance(catalog: Catalog, name: str, cores: int) -> None:
    assert catalog.get(name).neuron_cores == cores


def test_p5_is_eight_h100_with_640_gib_between_them(catalog: Catalog) -> None:
    p5 = catalog.get("p5.48xlarge")
    assert (p5.accelerator_count, p5.total_accelerator_memory_gib) == (8, 640)
    assert (p5.vcpu, p5.memory_gib) == (192, 2048)


# --- what the catalog covers -------------------------------------------------------

GPU_SIZES = ["xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge"]
CPU_SIZES = ["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge"]
REQUIRED_TYPES = [
    "p4d.24xlarge",
    "p4de.24xlarge",
    "p5.48xlarge",
    "p5e.48xlarge",
    "p5en.48xlarge",
    *(f"{family}.{size}" for family in ("g5", "g6", "g6e") for size in GPU_SIZES),
    "trn1.2xlarge",
    "trn1.32xlarge",
    "trn1n.32xlarge",
    "trn2.48xlarge",
    "inf2.xlarge",
    "inf2.8xlarge",
    "inf2.24xlarge",
    "inf2.48xlarge",
    *(f"{family}.{size}" for family in ("m7i", "c7i", "r7i") for size in CPU_SIZES),
    *(f"m6i.{size}" for size in ["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge", "32xlarge"]),
    *(f"{family}.{size}" for family in ("m7g", "c7g") for size in ["large", "xlarge", "4xlarge", "16xlarge"]),
]


@pytest.mark.parametrize("name", REQUIRED_TYPES)
def test_covers_the_types_the_platform_uses(catalog: Catalog, name: str) -> None:
    assert name in catalog


def test_graviton_families_are_arm64_and_the_rest_x86_64(catalog: Catalog) -> None:
    for instance_type in catalog:
        expected = "arm64" if instance_type.family in ("m7g", "c7g") else "x86_64"
        assert instance_type.arch == expected, instance_type.name


def test_header_states_region_currency_and_price_date(catalog: Catalog) -> None:
    assert catalog.reference_region == "us-east-1"
    assert catalog.currency == "USD"
    assert catalog.price_date.startswith("2026")


# --- every entry is internally consistent ---------------------------------------------


@pytest.mark.parametrize("name", load_catalog().names())
def test_entry_is_consistent(catalog: Catalog, name: str) -> None:
    instance_type = catalog.get(name)
    assert instance_type.family == name.split(".")[0]
    assert instance_type.size == name.split(".")[1]
    if instance_type.kind == "gpu":
        assert instance_type.accelerator_resource == "nvidia.com/gpu"
        assert instance_type.neuron_cores is None
    elif instance_type.kind == "neuron":
        assert instance_type.accelerator_resource == "aws.amazon.com/neuron"
        assert instance_type.neuron_cores
        assert instance_type.neuron_cores % instance_type.accelerator_count == 0
    else:
        assert instance_type.accelerator_resource is None
        assert instance_type.accelerator is None
        assert instance_type.accelerator_count == 0
    assert instance_type.is_accelerated is (instance_type.accelerator_count > 0)
    assert instance_type.efa_interfaces <= instance_type.network_cards
    assert (instance_type.instance_store_gib == 0) is (instance_type.instance_store_disks == 0)


def test_no_accelerator_instance_type_without_a_price(catalog: Catalog) -> None:
    unpriced = [t.name for t in catalog if t.is_accelerated and not t.price_per_hour > 0]
    assert unpriced == []


def test_every_estimated_price_says_how_it_was_derived(catalog: Catalog) -> None:
    estimates = [t for t in catalog if t.price_is_estimate]
    assert all(t.price_note for t in estimates)
    assert all(t.price_note is None for t in catalog if not t.price_is_estimate)


def test_instance_types_are_immutable(catalog: Catalog) -> None:
    with pytest.raises(AttributeError):
        catalog.get("p5.48xlarge").efa_interfaces = 0  # type: ignore[misc]


# --- lookups ------------------------------------------------------------------------------


def test_unknown_name_suggests_the_close_match(catalog: Catalog) -> None:
    with pytest.raises(UnknownInstanceType) as raised:
        catalog.get("p5.48xlarg")
    assert raised.value.name == "p5.48xlarg"
    assert raised.value.suggestions == ("p5.48xlarge",)
    assert str(raised.value) == "unknown instance type 'p5.48xlarg' (did you mean: p5.48xlarge?)"


def test_unknown_name_reads_well_behind_a_config_path(catalog: Catalog) -> None:
    try:
        catalog.get("p5.48xlarg")
    except UnknownInstanceType as error:
        message = f"pools[0].instanceTypes[1]: {error}"
    assert message == ("pools[0].instanceTypes[1]: unknown instance type 'p5.48xlarg' (did you mean: p5.48xlarge?)")


def test_wrong_case_suggests_the_lowercase_name(catalog: Catalog) -> None:
    with pytest.raises(UnknownInstanceType) as raised:
        catalog.get("G6E.12XLARGE")
    assert raised.value.suggestions[0] == "g6e.12xlarge"


def test_unknown_family_in_a_name_suggests_types_from_other_families(catalog: Catalog) -> None:
    with pytest.raises(UnknownInstanceType) as raised:
        catalog.get("p6.48xlarge")
    assert "p5.48xlarge" in raised.value.suggestions


def test_nothing_close_means_no_suggestion(catalog: Catalog) -> None:
    with pytest.raises(UnknownInstanceType) as raised:
        catalog.get("banana")
    assert raised.value.suggestions == ()
    assert str(raised.value) == "unknown instance type 'banana'"


def test_config_entries_select_types_and_families_in_order_each_once(catalog: Catalog) -> None:
    selected = [t.name for t in catalog.select(["g6e.12xlarge", "g6e", "p5.48xlarge"])]
    assert selected == ["g6e.12xlarge", *(t.name for t in catalog.family("g6e") if t.name != "g6e.12xlarge"), "p5.48xlarge"]
    assert select(["m7i.xlarge"]) == [catalog.get("m7i.xlarge")]  # the packaged catalog by default


def test_selecting_an_unknown_entry_names_it_with_close_matches(catalog: Catalog) -> None:
    with pytest.raises(UnknownInstanceType) as raised:
        catalog.select(["p5.48xlarge", "g6f"])
    assert raised.value.name == "g6f" and "g6e" in raised.value.suggestions


def test_close_matches_stay_in_the_family_when_the_family_is_right(catalog: Catalog) -> None:
    assert catalog.close_matches("m7i.xlarg")[0] == "m7i.xlarge"
    assert all(name.startswith("m7i.") for name in catalog.close_matches("m7i.xlarg"))
    assert "g6e" in catalog.close_matches("g6f")  # families too
    assert catalog.close_matches("banana") == []


def test_the_data_file_spells_kinds_as_the_maker_and_the_catalog_speaks_the_pool_vocabulary(tmp_path: Path) -> None:
    loaded = load_catalog(write_catalog(tmp_path, valid_document()))
    kinds = {name: loaded.get(name).kind for name in loaded.names()}
    assert kinds == {"m7i.large": "cpu", "p5.48xlarge": "gpu", "trn1.32xlarge": "neuron"}
    assert loaded.get("p5.48xlarge").kube_arch == "amd64"


def test_unknown_instance_type_is_a_lookup_error(catalog: Catalog) -> None:
    with pytest.raises(LookupError):
        catalog.get("x1.nonexistent")


def test_a_name_must_be_a_string(catalog: Catalog) -> None:
    with pytest.raises(TypeError):
        catalog.get(None)  # type: ignore[arg-type]


def test_contains_knows_exact_names_only(catalog: Catalog) -> None:
    assert "p5.48xlarge" in catalog
    assert "p5.48xlarg" not in catalog
    assert "p5" not in catalog


def test_family_lists_sizes_smallest_first(catalog: Catalog) -> None:
    assert [t.name for t in catalog.family("g6e")] == [f"g6e.{size}" for size in GPU_SIZES]
    assert [t.size for t in catalog.family("inf2")] == ["xlarge", "8xlarge", "24xlarge", "48xlarge"]


def test_every_family_is_ordered_by_size(catalog: Catalog) -> None:
    for family in catalog.families():
        vcpus = [t.vcpu for t in catalog.family(family)]
        assert vcpus == sorted(vcpus), family


def test_unknown_family_is_refused_with_suggestions(catalog: Catalog) -> None:
    with pytest.raises(UnknownInstanceType) as raised:
        catalog.family("g6f")
    assert "g6e" in raised.value.suggestions
    assert str(raised.value).startswith("unknown instance family 'g6f'")


def test_names_lists_every_type_once_grouped_by_family(catalog: Catalog) -> None:
    names = catalog.names()
    assert len(names) == len(set(names)) == len(catalog)
    g6e = names[names.index("g6e.xlarge") : names.index("g6e.48xlarge") + 1]
    assert g6e == [f"g6e.{size}" for size in GPU_SIZES]


def test_resolve_an_exact_name_gives_that_type() -> None:
    assert [t.name for t in resolve("g6e.12xlarge")] == ["g6e.12xlarge"]


def test_resolve_a_family_gives_all_its_sizes() -> None:
    assert [t.name for t in resolve("g6e")] == [f"g6e.{size}" for size in GPU_SIZES]
    assert [t.name for t in resolve("p5")] == ["p5.48xlarge"]


def test_resolve_refuses_unknown_selectors_with_suggestions() -> None:
    with pytest.raises(UnknownInstanceType) as raised:
        resolve("g6f")
    assert "g6e" in raised.value.suggestions
    with pytest.raises(UnknownInstanceType) as raised:
        resolve("p5.48xlarg")
    assert raised.value.suggestions == ("p5.48xlarge",)


def test_resolve_can_use_a_given_catalog(tmp_path: Path) -> None:
    path = write_catalog(tmp_path, valid_document())
    assert [t.name for t in resolve("m7i", load_catalog(path))] == ["m7i.large"]


def test_packaged_catalog_is_loaded_once() -> None:
    assert load_catalog() is load_catalog()


def test_data_file_ships_inside_the_package() -> None:
    assert resources.files("components.catalog").joinpath("instance_types.yaml").is_file()
    pyproject = Path(__file__).parents[1] / "pyproject.toml"
    assert '"*.yaml"' in pyproject.read_text()


# --- refusing a broken data file -------------------------------------------------------


def valid_document() -> dict:
    return {
        "reference_region": "us-east-1",
        "price_date": "2026-07-20",
        "currency": "USD",
        "accelerators": {"h100": "nvidia", "trainium": "neuron"},
        "instance_types": {
            "p5.48xlarge": {
                "family": "p5",
                "arch": "x86_64",
                "accelerator_kind": "nvidia",
                "accelerator": "h100",
                "accelerator_count": 8,
                "accelerator_memory_gib": 80,
                "vcpu": 192,
                "memory_gib": 2048,
                "efa_interfaces": 32,
                "network_gbps": 3200,
                "network_cards": 32,
                "default_card_interfaces": 2,
                "ipv4_per_interface": 50,
                "instance_store_gib": 30400,
                "instance_store_disks": 8,
                "price_per_hour": 55.04,
            },
            "trn1.32xlarge": {
                "family": "trn1",
                "arch": "x86_64",
                "accelerator_kind": "neuron",
                "accelerator": "trainium",
                "accelerator_count": 16,
                "accelerator_memory_gib": 32,
                "neuron_cores": 32,
                "vcpu": 128,
                "memory_gib": 512,
                "efa_interfaces": 8,
                "network_gbps": 800,
                "network_cards": 8,
                "default_card_interfaces": 5,
                "ipv4_per_interface": 50,
                "instance_store_gib": 7600,
                "instance_store_disks": 4,
                "price_per_hour": 21.5,
            },
            "m7i.large": {
                "family": "m7i",
                "arch": "x86_64",
                "accelerator_kind": "none",
                "accelerator": None,
                "accelerator_count": 0,
                "accelerator_memory_gib": 0,
                "vcpu": 2,
                "memory_gib": 8,
                "efa_interfaces": 0,
                "network_gbps": 0.781,
                "network_cards": 1,
                "default_card_interfaces": 3,
                "ipv4_per_interface": 10,
                "instance_store_gib": 0,
                "instance_store_disks": 0,
                "price_per_hour": 0.1008,
            },
        },
    }


def write_catalog(directory: Path, document: dict) -> Path:
    path = directory / "instance_types.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_a_valid_file_loads_from_any_path(tmp_path: Path) -> None:
    loaded = load_catalog(write_catalog(tmp_path, valid_document()))
    assert loaded.names() == ["m7i.large", "p5.48xlarge", "trn1.32xlarge"]
    assert loaded.get("trn1.32xlarge") == InstanceType(
        name="trn1.32xlarge",
        family="trn1",
        arch="x86_64",
        kind="neuron",
        accelerator="trainium",
        accelerator_count=16,
        accelerator_memory_gib=32,
        neuron_cores=32,
        vcpu=128,
        memory_gib=512,
        efa_interfaces=8,
        network_gbps=800,
        network_cards=8,
        default_card_interfaces=5,
        ipv4_per_interface=50,
        instance_store_gib=7600,
        instance_store_disks=4,
        price_per_hour=21.5,
    )


def test_an_unquoted_price_date_is_read_as_its_iso_form(tmp_path: Path) -> None:
    path = write_catalog(tmp_path, valid_document())
    path.write_text(path.read_text().replace("'2026-07-20'", "2026-07-20"))
    assert load_catalog(path).price_date == "2026-07-20"


def _set(name: str, field: str, value: object):
    def change(document: dict) -> None:
        document["instance_types"][name][field] = value

    return change


def _drop(name: str, field: str):
    def change(document: dict) -> None:
        del document["instance_types"][name][field]

    return change


BROKEN_ENTRIES = [
    pytest.param(
        _drop("p5.48xlarge", "efa_interfaces"),
        "p5.48xlarge: missing field 'efa_interfaces'",
        id="missing field",
    ),
    pytest.param(
        _set("p5.48xlarge", "efa_interfaces", "32"),
        "p5.48xlarge: efa_interfaces must be a non-negative integer",
        id="wrong type",
    ),
    pytest.param(
        _set("p5.48xlarge", "vcpu", True),
        "p5.48xlarge: vcpu must be a positive integer",
        id="boolean for a count",
    ),
    pytest.param(
        _set("p5.48xlarge", "efa_interface", 32),
        "p5.48xlarge: unknown field 'efa_interface'",
        id="unknown field",
    ),
    pytest.param(
        _set("p5.48xlarge", "accelerator_kind", "gpu"),
        "p5.48xlarge: accelerator_kind must be one of",
        id="unknown kind",
    ),
    pytest.param(
        _set("m7i.large", "arch", "amd64"),
        "m7i.large: arch must be one of",
        id="unknown arch",
    ),
    pytest.param(
        _set("p5.48xlarge", "accelerator", None),
        "p5.48xlarge: accelerator must name the nvidia device",
        id="gpu without a name",
    ),
    pytest.param(
        _set("p5.48xlarge", "accelerator_count", 0),
        "p5.48xlarge: accelerator_count must be at least 1",
        id="gpu without devices",
    ),
    pytest.param(
        _set("p5.48xlarge", "accelerator", "b200"),
        "p5.48xlarge: accelerator 'b200' is not declared",
        id="undeclared accelerator",
    ),
    pytest.param(
        _set("p5.48xlarge", "accelerator", "trainium"),
        "p5.48xlarge: accelerator 'trainium' is a neuron device",
        id="accelerator of the other kind",
    ),
    pytest.param(
        _set("m7i.large", "accelerator", "h100"),
        "m7i.large: accelerator must be null",
        id="cpu with an accelerator",
    ),
    pytest.param(
        _set("m7i.large", "accelerator_count", 1),
        "m7i.large: accelerator_count must be 0",
        id="cpu with devices",
    ),
    pytest.param(
        _drop("trn1.32xlarge", "neuron_cores"),
        "trn1.32xlarge: neuron_cores is required",
        id="neuron without cores",
    ),
    pytest.param(
        _set("p5.48xlarge", "neuron_cores", 8),
        "p5.48xlarge: neuron_cores applies only to neuron",
        id="nvidia with neuron cores",
    ),
    pytest.param(
        _set("trn1.32xlarge", "efa_interfaces", 9),
        "trn1.32xlarge: efa_interfaces (9) cannot exceed network_cards (8)",
        id="more EFA than cards",
    ),
    pytest.param(
        _set("m7i.large", "family", "m7"),
        "m7i.large: family is 'm7' but the name says 'm7i'",
        id="family disagrees with name",
    ),
    pytest.param(
        _set("m7i.large", "instance_store_disks", 1),
        "m7i.large: instance_store_gib and instance_store_disks",
        id="disks without size",
    ),
    pytest.param(
        _set("p5.48xlarge", "price_per_hour", None),
        "p5.48xlarge: price_per_hour must be a positive number",
        id="no price",
    ),
    pytest.param(
        _set("p5.48xlarge", "price_basis", "estimate"),
        "p5.48xlarge: price_note is required",
        id="estimate without a note",
    ),
]


@pytest.mark.parametrize(("break_it", "expected"), BROKEN_ENTRIES)
def test_a_broken_entry_is_refused_naming_the_entry(tmp_path: Path, break_it, expected: str) -> None:
    document = copy.deepcopy(valid_document())
    break_it(document)
    with pytest.raises(CatalogDataError) as raised:
        load_catalog(write_catalog(tmp_path, document))
    assert expected in str(raised.value)
    assert str(tmp_path / "instance_types.yaml") in str(raised.value)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    document = valid_document()
    document["instance_types"]["p5.48xlarge"]["vcpu"] = 0
    document["instance_types"]["m7i.large"]["network_cards"] = 0
    with pytest.raises(CatalogDataError) as raised:
        load_catalog(write_catalog(tmp_path, document))
    entries_named = [problem.split(":")[0] for problem in raised.value.problems]
    assert entries_named == ["p5.48xlarge", "m7i.large"]


def test_a_type_listed_twice_is_refused(tmp_path: Path) -> None:
    path = write_catalog(tmp_path, valid_document())
    text = path.read_text()
    entry = text[text.index("  m7i.large:") :]
    path.write_text(text + entry)
    with pytest.raises(CatalogDataError, match="duplicate key 'm7i.large'"):
        load_catalog(path)


@pytest.mark.parametrize("field", ["reference_region", "price_date", "currency", "accelerators", "instance_types"])
def test_a_missing_header_field_is_refused(tmp_path: Path, field: str) -> None:
    document = valid_document()
    del document[field]
    with pytest.raises(CatalogDataError, match=f"missing top-level field '{field}'"):
        load_catalog(write_catalog(tmp_path, document))


def test_a_file_that_is_not_yaml_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "instance_types.yaml"
    path.write_text("instance_types: [unclosed\n")
    with pytest.raises(CatalogDataError, match="not valid YAML"):
        load_catalog(path)
