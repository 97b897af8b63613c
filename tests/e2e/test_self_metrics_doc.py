"""The README's self-metrics table and the families the modules' probes put on the page agree:
every family the service reports about itself is a row of the table with the same type, and every
row is on the page. A module that adds a counter without documenting it fails here."""
import os
import re

import requests

from conftest import ROOT, seed_metric


def readme_self_metrics():
    """{name: type} from README.md's "Self-metrics" table (a cell may list several names)."""
    text = open(os.path.join(ROOT, "README.md")).read()
    section = text.split("### Self-metrics", 1)[1].split("\n## ", 1)[0]
    table = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) != 3 or cells[0] in ("metric", "") or set(cells[0]) <= {"-"}:
            continue
        names = re.findall(r"`([a-z_:][a-z0-9_:]*)(?:\{[^`]*\})?`", cells[0])
        assert names, line
        for n in names:
            assert n not in table, f"{n} twice in the README's table"
            table[n] = cells[1]
    return table


def page_families(text):
    """{name: (type, help)} of the families on a /prometheus-metrics page, client series left out."""
    helps, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_text = line[len("# HELP "):].partition(" ")
            helps[name] = help_text
        elif line.startswith("# TYPE "):
            name, kind = line[len("# TYPE "):].split(" ")
            types[name] = kind
    return {n: (types[n], helps.get(n, "")) for n in types if not n.startswith("client_metric_")}


def test_every_self_metric_is_in_the_readme_table_and_every_row_on_the_page(service):
    # One request of each kind first, so the families with labels have samples to print.
    assert service.post_metrics("doc", [seed_metric()]).status_code == 200
    service.wait_consumed(1)
    text = requests.get(service.url("/prometheus-metrics"), timeout=10).text
    on_page = page_families(text)
    documented = readme_self_metrics()
    assert len(on_page) > 40 and len(documented) > 40

    undocumented = sorted(n for n in on_page if n not in documented)
    assert undocumented == [], f"on /prometheus-metrics but not in README's self-metrics table: {undocumented}"
    missing = sorted(n for n in documented if n not in on_page)
    assert missing == [], f"in README's self-metrics table but not on /prometheus-metrics: {missing}"
    wrong_type = sorted((n, kind, documented[n]) for n, (kind, _) in on_page.items() if documented[n] != kind)
    assert wrong_type == [], wrong_type
    no_help = sorted(n for n, (_, help_text) in on_page.items() if not help_text)
    assert no_help == [], no_help
