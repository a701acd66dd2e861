"""Rule-based extraction: topics, companies, chips, money, power and deal candidates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.core.extract import (
    Extraction,
    Gazetteer,
    Money,
    Taxonomy,
    extract,
    find_money,
    find_power,
    load_gazetteer,
    load_taxonomy,
    split_sentences,
)
from bot.errors import ConfigError
from tests.support.corpus import corpus_dir


def run(text: str, taxonomy: Taxonomy, gazetteer: Gazetteer, title: str = "") -> Extraction:
    return extract(title, text, taxonomy, gazetteer)


# ---- loading -------------------------------------------------------------------------


def test_default_taxonomy_has_the_eight_topics(taxonomy: Taxonomy) -> None:
    assert set(taxonomy.topic_names()) == {
        "alliance",
        "investment",
        "chips",
        "datacenter",
        "cloud",
        "models",
        "earnings",
        "policy",
    }
    for topic in taxonomy.topics:
        assert topic.keywords and topic.phrases
        assert all(t == t.lower() for t in topic.keywords + topic.phrases)


def test_taxonomy_from_text_and_path(tmp_path: Path) -> None:
    text = '[topics.robotics]\nkeywords = ["robot"]\nphrases = ["embodied ai"]\n'
    tax = load_taxonomy(text)
    assert tax.topic_names() == ("robotics",)
    path = tmp_path / "tax.toml"
    path.write_text(text, encoding="utf-8")
    assert load_taxonomy(path).topic_names() == ("robotics",)
    assert load_taxonomy(str(path)).topic_names() == ("robotics",)


@pytest.mark.parametrize(
    "text",
    [
        "topics = 3\n",
        "[topics.x]\nkeywords = []\nphrases = []\n",
        "[topics.x]\nkeywords = [1]\n",
        "[topics.x]\nkeywords = ['a']\nwords = ['b']\n",
        "[topics.x\nkeywords = ['a']\n",
    ],
)
def test_bad_taxonomy_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError):
        load_taxonomy(text)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_gazetteer(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    "text",
    [
        '[[chip]]\nname = "X1"\nvendor = "Nobody"\nfamily = "X"\n',
        '[[company]]\nname = "A"\naliases = ["Z"]\n[[company]]\nname = "B"\naliases = ["Z"]\n',
        '[[company]]\naliases = ["Z"]\n',
        '[[company]]\nname = "A"\n[[company]]\nname = "A"\n',
    ],
)
def test_bad_gazetteer_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError):
        load_gazetteer(text)


def test_custom_gazetteer(taxonomy: Taxonomy) -> None:
    gaz = load_gazetteer(
        '[[company]]\nname = "Acme"\naliases = ["Acme Corp"]\n'
        '[[chip]]\nname = "Rocket 9"\nvendor = "Acme"\nfamily = "Rocket"\ngeneration = 9\n'
    )
    found = extract("", "ACME CORP ships the Rocket-9 chips.", taxonomy, gaz)
    assert found.companies == {"Acme"}
    assert [(c.name, c.vendor, c.generation) for c in found.chips] == [("Rocket 9", "Acme", "9")]


# ---- topics --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("The two firms formed an alliance.", "alliance"),
        ("They agreed a strategic partnership.", "alliance"),
        ("It took a minority stake.", "investment"),
        ("Demand for GPUs keeps rising.", "chips"),
        ("A bet on custom silicon.", "chips"),
        ("A new data center in Texas.", "datacenter"),
        ("Power for the site, 2 gigawatts.", "datacenter"),
        ("Moving workloads to Azure.", "cloud"),
        ("A new large language model.", "models"),
        ("Quarterly revenue beat estimates.", "earnings"),
        ("New export-controls on chips to China.", "policy"),
    ],
)
def test_topics(text: str, topic: str, taxonomy: Taxonomy, gazetteer: Gazetteer) -> None:
    assert topic in extract(text, "", taxonomy, gazetteer).topics  # one term in the title is enough


def test_a_passing_mention_in_the_text_is_not_a_topic(taxonomy: Taxonomy, gazetteer: Gazetteer) -> None:
    passing = "Shares rose on Tuesday. The company also runs a data center in Ohio."
    assert "datacenter" not in run(passing, taxonomy, gazetteer).topics
    theme = "The company is building a data center in Ohio, its largest datacenter campus."
    assert "datacenter" in run(theme, taxonomy, gazetteer).topics  # two different terms
    repeated = "Its data center opens in May. A second data center follows in June."
    assert "datacenter" in run(repeated, taxonomy, gazetteer).topics  # one term twice


def test_a_deal_implies_its_topic(taxonomy: Taxonomy, gazetteer: Gazetteer) -> None:
    topics = run("Broadcom will supply custom chips to OpenAI.", taxonomy, gazetteer).topics
    assert "alliance" in topics


def test_topics_match_whole_words_only(taxonomy: Taxonomy, gazetteer: Gazetteer) -> None:
    # "ban" inside "banana", "chip" inside "chipper", "cloud" inside "cloudy"
    assert run("A chipper banana on a cloudy day.", taxonomy, gazetteer).topics == frozenset()


# ---- companies -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("AWS said so.", "Amazon"),
        ("Amazon Web Services said so.", "Amazon"),
        ("Annapurna Labs designs the chips.", "Amazon"),
        ("Alphabet said so.", "Google"),
        ("Google Cloud said so.", "Google"),
        ("DeepMind said so.", "Google"),
        ("Azure grew 40%.", "Microsoft"),
        ("Facebook's parent said so.", "Meta"),
        ("Meta said so.", "Meta"),
        ("NVIDIA said so.", "Nvidia"),
        ("AMD's chips.", "AMD"),
        ("Arm said so.", "Arm"),
        ("ARM-based CPUs.", "Arm"),
        ("Apple said so.", "Apple"),
        ("xAI raised money.", "xAI"),
        ("SK hynix supplies HBM.", "SK Hynix"),
        ("TSMC makes them.", "TSMC"),
        ("Abu Dhabi's MGX joined.", "MGX"),
        ("CoreWeave signed.", "CoreWeave"),
    ],
)
def test_company_aliases(text: str, name: str, taxonomy: Taxonomy, gazetteer: Gazetteer) -> None:
    assert run(text, taxonomy, gazetteer).companies == {name}


@pytest.mark.parametrize(
    "text",
    [
        "The metadata is stored.",
        "AMDocs is not AMD.",
        "He broke his arm.",
        "An arms race.",
        "She ate an apple.",
        "The oracle spoke.",
        "Intelligence agencies.",
        "Samsungite",
        "Google-like search terms like googled.",
    ],
)
def test_company_word_boundaries(text: str, taxonomy: Taxonomy, gazetteer: Gazetteer) -> None:
    found = run(text, taxonomy, gazetteer).companies
    assert found <= ({"AMD"} if "not AMD" in text else {"Google"} if "Google-like" in text else set())
    assert "Meta" not in found


def test_longest_alias_wins(taxonomy: Taxonomy, gazetteer: Gazetteer) -> None:
    assert run("Google Cloud and Microsoft Azure.", taxonomy, gazetteer).companies == {"Google", "Microsoft"}


# ---- chips ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "chip", "vendor"),
    [
        ("Trainium chips.", "Trainium", "Amazon"),
        ("Trainium2 chips.", "Trainium2", "Amazon"),
        ("Trainium3 chips.", "Trainium3", "Amazon"),
        ("Trainium 3 chips.", "Trainium3", "Amazon"),
        ("Trainium4 chips.", "Trainium4", "Amazon"),
        ("Inferentia2 chips.", "Inferentia2", "Amazon"),
        ("Graviton4 CPUs.", "Graviton", "Amazon"),
        ("TPUs for all.", "TPU", "Google"),
        ("TPU v5e pods.", "TPU v5e", "Google"),
        ("TPU v5p pods.", "TPU v5p", "Google"),
        ("Trillium pods.", "Trillium", "Google"),
        ("Ironwood pods.", "Ironwood", "Google"),
        ("Axion CPUs.", "Axion", "Google"),
        ("H100s for all.", "H100", "Nvidia"),
        ("H200 GPUs.", "H200", "Nvidia"),
        ("B200 GPUs.", "B200", "Nvidia"),
        ("B300 GPUs.", "B300", "Nvidia"),
        ("GB200 racks.", "GB200", "Nvidia"),
        ("GB300 NVL72 racks.", "GB300", "Nvidia"),
        ("Blackwell GPUs.", "Blackwell", "Nvidia"),
        ("Rubin GPUs.", "Rubin", "Nvidia"),
        ("Vera Rubin systems.", "Vera Rubin", "Nvidia"),
        ("MI300X GPUs.", "MI300X", "AMD"),
        ("MI325X GPUs.", "MI325X", "AMD"),
        ("MI350 GPUs.", "MI350", "AMD"),
        ("MI355X GPUs.", "MI355X", "AMD"),
        ("MI450 GPUs.", "MI450", "AMD"),
        ("Maia accelerators.", "Maia", "Microsoft"),
        ("Maia 100 accelerators.", "Maia 100", "Microsoft"),
        ("Cobalt CPUs.", "Cobalt", "Microsoft"),
        ("MTIA chips.", "MTIA", "Meta"),
        ("Gaudi accelerators.", "Gaudi", "Intel"),
        ("Gaudi 3 accelerators.", "Gaudi 3", "Intel"),
    ],
)
def test_chips(text: str, chip: str, vendor: str, taxonomy: Taxonomy, gazetteer: Gazetteer) -> None:
    found = run(text, taxonomy, gazetteer)
    assert [(c.name, c.vendor) for c in found.chips] == [(chip, vendor)]
    assert "chips" in found.topics


def test_chip_names_are_whole_words(taxonomy: Taxonomy, gazetteer: Gazetteer) -> None:
    text = "The cobalt mine, an ironwood table, Trainium30 and XH100 are not chips."
    assert run(text, taxonomy, gazetteer).chips == ()


def test_chip_families_and_generations(gazetteer: Gazetteer) -> None:
    assert gazetteer.chip("Ironwood").family == "TPU"
    assert gazetteer.chip("Trainium3").generation == "3"
    assert gazetteer.chip("GB200").family == "Blackwell"


# ---- money ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "usd", "amount", "qualifier", "currency"),
    [
        ("It pays $50 billion.", 50e9, "$50 billion", None, "USD"),
        ("It pays $4B.", 4e9, "$4B", None, "USD"),
        ("It pays US$38bn.", 38e9, "US$38bn", None, "USD"),
        ("It pays USD 38 billion.", 38e9, "USD 38 billion", None, "USD"),
        ("It pays 38 billion dollars.", 38e9, "38 billion dollars", None, "USD"),
        ("It pays 38 billion US dollars.", 38e9, "38 billion US dollars", None, "USD"),
        ("It pays $1.25 billion.", 1.25e9, "$1.25 billion", None, "USD"),
        ("It pays $500bn.", 500e9, "$500bn", None, "USD"),
        ("It pays $1.5 trillion.", 1.5e12, "$1.5 trillion", None, "USD"),
        ("It pays $300 million.", 300e6, "$300 million", None, "USD"),
        ("It pays $10m.", 10e6, "$10m", None, "USD"),
        ("It pays $2,500,000.", 2.5e6, "$2,500,000", None, "USD"),
        ("It pays up to $100 billion.", 100e9, "$100 billion", "up to", "USD"),
        ("It pays about $10 billion.", 10e9, "$10 billion", "about", "USD"),
        ("It pays more than $5 billion.", 5e9, "$5 billion", "more than", "USD"),
        ("It pays as much as $15 billion.", 15e9, "$15 billion", "as much as", "USD"),
        ("It pays nearly $10 billion.", 10e9, "$10 billion", "nearly", "USD"),
        ("It pays €10 billion.", None, "€10 billion", None, "EUR"),
        ("It pays £2bn.", None, "£2bn", None, "GBP"),
        ("It pays 5 billion euros.", None, "5 billion euros", None, "EUR"),
        ("It pays ¥1 trillion.", None, "¥1 trillion", None, "JPY"),
        ("It pays about 2 trillion yen.", None, "2 trillion yen", "about", "JPY"),
    ],
)
def test_money_forms(text: str, usd: float | None, amount: str, qualifier: str | None, currency: str) -> None:
    assert find_money(text) == [Money(usd, amount, qualifier, currency)]


@pytest.mark.parametrize(
    ("text", "low", "high", "written"),
    [
        ("It costs $20–25 billion.", 20e9, 25e9, "$20–25 billion"),
        ("It costs $5 to $10 billion.", 5e9, 10e9, "$5 to $10 billion"),
        ("It costs 3-4 billion dollars.", 3e9, 4e9, "3-4 billion dollars"),
    ],
)
def test_money_ranges(text: str, low: float, high: float, written: str) -> None:
    assert find_money(text) == [Money(low, written, None, "USD", usd_high=high)]


def test_money_not_found_in_plain_numbers() -> None:
    assert find_money("It has 160 million shares, 4 billion users and 10 GW in 2026.") == []


def test_several_amounts_in_order() -> None:
    found = find_money("First $4 billion, then another $4B, total $8bn.")
    assert [m.usd for m in found] == [4e9, 4e9, 8e9]


# ---- power ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "watts", "written"),
    [
        ("It needs 6 gigawatts.", 6e9, "6 gigawatts"),
        ("It needs 10 GW.", 10e9, "10 GW"),
        ("It needs 1 GW.", 1e9, "1 GW"),
        ("It needs 500 MW.", 500e6, "500 MW"),
        ("A 6-gigawatt deal.", 6e9, "6-gigawatt"),
        ("A 1.5GW campus.", 1.5e9, "1.5GW"),
        ("It needs one gigawatt.", 1e9, "one gigawatt"),
        ("Capacity of more than a gigawatt.", 1e9, "a gigawatt"),
        ("It needs 300 megawatts.", 300e6, "300 megawatts"),
    ],
)
def test_power_forms(text: str, watts: float, written: str) -> None:
    found = find_power(text)
    assert [(p.watts, p.text) for p in found] == [(watts, written)]


def test_power_ignores_energy_and_bare_units() -> None:
    assert find_power("It used 100 GWh; multi-gigawatt plans; the GW Pharma deal.") == []


# ---- sentences and deals -------------------------------------------------------------


def test_sentences_do_not_split_after_abbreviations() -> None:
    text = "The U.S. firm said so. Nvidia Corp. is big. It raised $1.5 billion.\nNext line"
    assert split_sentences(text) == [
        "The U.S. firm said so.",
        "Nvidia Corp. is big.",
        "It raised $1.5 billion.",
        "Next line",
    ]


@pytest.mark.parametrize(
    ("text", "parties", "kind", "usd"),
    [
        ("Amazon will invest up to $4 billion in Anthropic.", ("Amazon", "Anthropic"), "investment", 4e9),
        ("Microsoft takes a stake in OpenAI.", ("Microsoft", "OpenAI"), "investment", None),
        ("Nvidia and OpenAI form an alliance.", ("Nvidia", "OpenAI"), "partnership", None),
        ("AWS and OpenAI announce a strategic partnership.", ("Amazon", "OpenAI"), "partnership", None),
        ("OpenAI will deploy 6 gigawatts of AMD GPUs.", ("AMD", "OpenAI"), "supply", None),  # supplier first
        ("OpenAI signed a $38 billion agreement with AWS for compute.", ("Amazon", "OpenAI"), "supply", 38e9),
        (
            "Anthropic will buy $30 billion of compute from Microsoft.",
            ("Microsoft", "Anthropic"),
            "supply",
            30e9,
        ),
        ("Broadcom will supply custom chips to OpenAI.", ("Broadcom", "OpenAI"), "supply", None),
        (
            "Anthropic will use Ironwood from Google.",
            ("Google", "Anthropic"),
            "supply",
            None,
        ),  # supplier first
        ("Nvidia agreed to acquire Arm for $40 billion.", ("Nvidia", "Arm"), "acquisition", 40e9),
        ("Oracle signed a deal with OpenAI.", ("Oracle", "OpenAI"), "other", None),
    ],
)
def test_deal_candidates(
    text: str,
    parties: tuple[str, ...],
    kind: str,
    usd: float | None,
    taxonomy: Taxonomy,
    gazetteer: Gazetteer,
) -> None:
    deals = run(text, taxonomy, gazetteer).deals
    assert len(deals) == 1
    deal = deals[0]
    assert (deal.parties, deal.kind) == (parties, kind)
    assert (deal.amount.usd if deal.amount else None) == usd


def test_no_deal_without_two_companies_or_a_deal_word(taxonomy: Taxonomy, gazetteer: Gazetteer) -> None:
    assert run("Amazon will invest $4 billion in robots.", taxonomy, gazetteer).deals == ()
    assert run("Nvidia and AMD reported earnings.", taxonomy, gazetteer).deals == ()


def test_deal_amount_is_the_largest_dollar_figure(taxonomy: Taxonomy, gazetteer: Gazetteer) -> None:
    text = "Microsoft and Nvidia will invest up to $5 billion and $10 billion in Anthropic."
    (deal,) = run(text, taxonomy, gazetteer).deals
    assert deal.parties == ("Microsoft", "Nvidia", "Anthropic")
    assert deal.amount == Money(10e9, "$10 billion", None, "USD")


def test_title_counts_as_a_sentence(taxonomy: Taxonomy, gazetteer: Gazetteer) -> None:
    found = run("Nothing here.", taxonomy, gazetteer, title="Nvidia to invest $100 billion in OpenAI")
    assert found.companies == {"Nvidia", "OpenAI"}
    assert [d.kind for d in found.deals] == ["investment"]


# ---- the shared corpus ---------------------------------------------------------------

# cluster -> (parties, dollar amount, watts). Checked against every article's text:
# each article states all of these except where OMITTED says otherwise.
EXPECTED: dict[str, tuple[frozenset[str], float | None, float | None]] = {
    "amzn-anthropic-2023-09": (frozenset({"Amazon", "Anthropic"}), 4e9, None),
    "amzn-anthropic-2024-11": (frozenset({"Amazon", "Anthropic"}), 4e9, None),
    "openai-amd-2025-10": (frozenset({"AMD", "OpenAI"}), None, 6e9),
    "nvidia-openai-2025-09": (frozenset({"Nvidia", "OpenAI"}), 100e9, None),
    "aws-openai-2025-11": (frozenset({"Amazon", "OpenAI"}), 38e9, None),
    "msft-nvda-anthropic-2025-11": (frozenset({"Microsoft", "Nvidia", "Anthropic"}), None, None),
}
# article id -> facts its excerpt leaves out ("power": 011 only states the first 1 GW tranche)
OMITTED: dict[str, set[str]] = {"011": {"power"}}
CHIPS: dict[str, str] = {
    "aws-trainium3-2025-12": "Trainium3",
    "google-ironwood-ga-2025-11": "Ironwood",
    "google-ironwood-unveil-2025-04": "Ironwood",
    "meta-mtia-2024-04": "MTIA",
    "msft-maia-cobalt-2023-11": "Maia",
}


def _articles() -> list[dict[str, str]]:
    paths = sorted((corpus_dir() / "articles").glob("*.json"))
    assert paths, "no articles in the corpus"
    return [json.loads(p.read_text(encoding="utf-8")) for p in paths]


class _Tally:
    """Hits per cluster and check; hard misses are collected as failures."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, list[int]]] = {}
        self.failures: list[str] = []

    def check(self, where: tuple[str, str], name: str, ok: bool, detail: str, *, hard: bool = True) -> None:
        aid, cluster = where
        cell = self.rows.setdefault(cluster, {}).setdefault(name, [0, 0])
        cell[0] += int(ok)
        cell[1] += 1
        if hard and not ok:
            self.failures.append(f"{aid} {cluster}: {detail}")

    def summary(self) -> str:
        lines = ["per-cluster hit rates:"]
        for cluster, row in sorted(self.rows.items()):
            cells = "  ".join(f"{name}={hit}/{n}" for name, (hit, n) in sorted(row.items()))
            lines.append(f"  {cluster:30s} {cells}")
        return "\n".join(lines)


def test_corpus_articles(taxonomy: Taxonomy, gazetteer: Gazetteer) -> None:
    tally = _Tally()
    for art in _articles():
        cluster, aid = art["cluster"], art["id"]
        if cluster not in EXPECTED and cluster not in CHIPS:
            continue
        found = extract(art.get("title") or "", art["text"], taxonomy, gazetteer)
        at = (aid, cluster)
        if cluster in CHIPS:
            chip = CHIPS[cluster]
            tally.check(
                at, "chip", chip in found.chip_names, f"chip {chip} not in {sorted(found.chip_names)}"
            )
            continue
        parties, usd, watts = EXPECTED[cluster]
        omitted = OMITTED.get(aid, set())
        tally.check(
            at, "parties", parties <= found.companies, f"{sorted(parties)} not in {sorted(found.companies)}"
        )
        deals = [d for d in found.deals if parties <= set(d.parties)]
        tally.check(at, "deal", bool(deals), f"no deal candidate with {sorted(parties)}")
        if usd is not None and "amount" not in omitted:
            tally.check(
                at, "amount", any(m.usd == usd for m in found.money), f"${usd:,.0f} not in {found.money}"
            )
            # informational: the deal's amount is the sentence's largest, sometimes a running total
            with_amount = any(d.amount is not None and d.amount.usd == usd for d in deals)
            tally.check(at, "deal_amount", with_amount, "deal amount", hard=False)
        if watts is not None and "power" not in omitted:
            tally.check(
                at,
                "power",
                any(p.watts == watts for p in found.power),
                f"{watts:,.0f} W not in {found.power}",
            )

    print("\n" + tally.summary())
    assert set(tally.rows) == set(EXPECTED) | set(CHIPS), "a cluster is missing from the corpus"
    assert tally.failures == []
