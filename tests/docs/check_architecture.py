#!/usr/bin/env python3
"""Fails when docs/ARCHITECTURE.md's module table and src/CMakeLists.txt disagree: the same
modules, the same folders, and for each module exactly the project modules it may use."""
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def cmake_modules():
    text = open(os.path.join(ROOT, "src", "CMakeLists.txt")).read()
    mods = {}
    for m in re.finditer(r"^mca_module\(([a-z_]+)([^)]*)\)", text, re.M):
        name, rest = m.group(1), m.group(2)
        d = re.search(r"\bDIR\s+(\S+)", rest)
        folder = d.group(1) if d else name
        mods[name] = (f"src/{folder}/", set(re.findall(r"mca::([a-z_]+)", rest)))
    app = re.search(r"target_link_libraries\(metrics-collection-api\s+PRIVATE([^)]*)\)", text)
    if not app:
        sys.exit("src/CMakeLists.txt: no target_link_libraries(metrics-collection-api PRIVATE ...)")
    mods["app"] = ("src/app/", set(re.findall(r"mca::([a-z_]+)", app.group(1))))
    return mods


def doc_modules():
    text = open(os.path.join(ROOT, "docs", "ARCHITECTURE.md")).read()
    section = text.split("## Modules", 1)[1].split("\n## ", 1)[0]
    mods = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[0] in ("module", "") or set(cells[0]) <= {"-"}:
            continue
        name, folder, _, uses = cells
        deps = set() if uses in ("—", "-", "") else {u.strip() for u in uses.split(",")}
        mods[name] = (folder.strip("`"), deps)
    return mods


def main():
    cm, doc = cmake_modules(), doc_modules()
    problems = []
    for name in sorted(set(cm) | set(doc)):
        if name not in doc:
            problems.append(f"module {name} is in src/CMakeLists.txt but not in docs/ARCHITECTURE.md")
        elif name not in cm:
            problems.append(f"module {name} is in docs/ARCHITECTURE.md but not in src/CMakeLists.txt")
        else:
            (cf, cd), (df, dd) = cm[name], doc[name]
            if cf != df:
                problems.append(f"module {name}: folder {df} in the doc, {cf} in CMake")
            if cd != dd:
                problems.append(f"module {name}: may use {sorted(dd)} in the doc, {sorted(cd)} in CMake")
            if not os.path.isdir(os.path.join(ROOT, cf)):
                problems.append(f"module {name}: folder {cf} does not exist")
    for p in problems:
        print("architecture:", p)
    print(f"architecture: {len(cm)} modules checked, {len(problems)} disagreements")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
