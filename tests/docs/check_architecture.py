#!/usr/bin/env python3
"""Keeps three descriptions of the module graph in step, and fails on any disagreement:

- src/CMakeLists.txt: each module's PUBLIC and PRIVATE project dependencies;
- docs/ARCHITECTURE.md's module table (same modules, folders, public and private uses);
- the `#include "<module>/..."` lines of each module's sources: a module declares exactly the
  modules it includes, PUBLIC exactly those its own headers include;
- api sees the layers below only through pipeline/front.h: the headers api includes, and the
  headers they include in turn, reach no module api does not declare (no store, registry,
  transport or avro type).

The build enforces the first against the third as well (an include of an undeclared module does
not compile: each library sees only the headers of what it links); this check also catches a
declared edge that nothing uses, a PUBLIC edge no header needs, and a PRIVATE edge a header needs
(which compiles until a user of that header is built)."""
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+(?:/[a-z_]+)*)/[^"/]+"', re.M)
INCLUDE_FILE = re.compile(r'^\s*#\s*include\s+"([a-z_]+(?:/[a-z_]+)*/[^"/]+)"', re.M)
# Modules whose includes, followed through every header they reach, stay within what they declare.
SEALED = ("api",)


def deps_of(text):
    return set(re.findall(r"mca::([a-z_]+)", text))


def split_scopes(args):
    """PUBLIC and PRIVATE project modules named in a CMake argument list."""
    public, private, scope = set(), set(), None
    for word in args.split():
        if word in ("PUBLIC", "PRIVATE", "INTERFACE", "EXCLUDE"):
            scope = word
        elif word.startswith("mca::"):
            if scope in (None, "EXCLUDE"):
                raise ValueError(f"{word} without PUBLIC or PRIVATE")
            (private if scope == "PRIVATE" else public).add(word[len("mca::"):])
    return public, private


def excluded_files(args):
    """The file names after EXCLUDE: sources of the folder that are not part of the library."""
    m = re.search(r"\bEXCLUDE\s+((?:[\w.]+\s*)+)", args)
    return set(m.group(1).split()) if m else set()


def cmake_modules():
    """({module: (folder, public, private, excluded files)}, (executable's sources, its modules))."""
    text = open(os.path.join(ROOT, "src", "CMakeLists.txt")).read()
    mods = {}
    for m in re.finditer(r"^mca_module\(([a-z_]+)([^)]*)\)", text, re.M):
        name, rest = m.group(1), m.group(2)
        d = re.search(r"\bDIR\s+(\S+)", rest)
        mods[name] = (f"src/{d.group(1) if d else name}/",) + split_scopes(rest) + (excluded_files(rest),)
    exe = re.search(r"add_executable\(metrics-collection-api\s+([^)]*)\)", text)
    links = re.search(r"target_link_libraries\(metrics-collection-api\s+([^)]*)\)", text)
    if not exe or not links:
        sys.exit("src/CMakeLists.txt: no add_executable/target_link_libraries(metrics-collection-api ...)")
    return mods, (exe.group(1).split(), deps_of(links.group(1)))


def doc_modules():
    text = open(os.path.join(ROOT, "docs", "ARCHITECTURE.md")).read()
    section = text.split("## Modules", 1)[1].split("\n## ", 1)[0]
    mods = {}

    def names(cell):
        return set() if cell in ("—", "-", "") else {u.strip() for u in cell.split(",")}

    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5 or cells[0] in ("module", "") or set(cells[0]) <= {"-"}:
            continue
        name, folder, _, public, private = cells
        mods[name] = (folder.strip("`"), names(public), names(private))
    return mods


def module_of(inc, folders):
    """The module whose folder holds the include path; the deepest folder wins."""
    best, best_len = None, -1
    for name, f in folders.items():
        f = f[len("src/"):].rstrip("/")
        if (inc == f or inc.startswith(f + "/")) and len(f) > best_len:
            best, best_len = name, len(f)
    return best


def module_includes(path, folders):
    """The modules a file includes (None for a path under no module's folder)."""
    return {(inc, module_of(inc, folders)) for inc in INCLUDE.findall(open(path).read())}


def reached_modules(folder, folders):
    """Modules of every project header the folder's files reach, following includes transitively."""
    todo = [os.path.join(folder, e) for e in os.listdir(os.path.join(ROOT, folder))
            if e.endswith((".h", ".cc"))]
    seen, reached = set(), set()
    while todo:
        path = todo.pop()
        if path in seen or not os.path.isfile(os.path.join(ROOT, path)):
            continue
        seen.add(path)
        for inc in INCLUDE_FILE.findall(open(os.path.join(ROOT, path)).read()):
            mod = module_of(os.path.dirname(inc), folders)
            if mod is not None:
                reached.add(mod)
                todo.append("src/" + inc)
    return reached


def included_modules(folder, folders, excluded):
    """(modules included by the folder's headers, by all its files); nested folders and the
    excluded files left out."""
    by_headers, by_all, unknown = set(), set(), set()
    full = os.path.join(ROOT, folder)
    for entry in sorted(os.listdir(full)):
        if not entry.endswith((".h", ".cc")) or entry in excluded:
            continue
        for path, mod in module_includes(os.path.join(full, entry), folders):
            if mod is None:
                unknown.add(f"{folder}{entry} includes {path}/")
                continue
            by_all.add(mod)
            if entry.endswith(".h"):
                by_headers.add(mod)
    return by_headers, by_all, unknown


def check_executable(exe, cm, folders):
    """The executable links exactly the modules its sources include, sees each include through
    them (a linked module's PUBLIC dependencies pass on), and its sources belong to no library."""
    sources, linked = exe
    problems, included = [], set()
    for src in sources:
        folder, _, file_name = f"src/{src}".rpartition("/")
        for path, mod in module_includes(os.path.join(ROOT, "src", src), folders):
            if mod is None:
                problems.append(f"executable: src/{src} includes {path}/, which is no module's folder")
            else:
                included.add(mod)
        for name, (f, _, _, excluded) in cm.items():
            if f == folder + "/" and file_name not in excluded:
                problems.append(f"executable: src/{src} is compiled into module {name} too (EXCLUDE it)")
    visible, todo = set(), list(linked)
    while todo:
        mod = todo.pop()
        if mod in visible or mod not in cm:
            continue
        visible.add(mod)
        todo += cm[mod][1]
    for mod in sorted(included - visible):
        problems.append(f"executable includes {mod} but neither links it nor gets it from what it links")
    for mod in sorted(linked - included):
        problems.append(f"executable links {mod} but includes none of it")
    return problems


def main():
    (cm, exe), doc = cmake_modules(), doc_modules()
    folders = {name: v[0] for name, v in cm.items()}
    problems = check_executable(exe, cm, folders)
    for name in sorted(set(cm) | set(doc)):
        if name not in doc:
            problems.append(f"module {name} is in src/CMakeLists.txt but not in docs/ARCHITECTURE.md")
            continue
        if name not in cm:
            problems.append(f"module {name} is in docs/ARCHITECTURE.md but not in src/CMakeLists.txt")
            continue
        (cf, cpub, cpriv, excluded), (df, dpub, dpriv) = cm[name], doc[name]
        if cf != df:
            problems.append(f"module {name}: folder {df} in the doc, {cf} in CMake")
        if (cpub, cpriv) != (dpub, dpriv):
            problems.append(f"module {name}: uses public {sorted(dpub)}, private {sorted(dpriv)} in the "
                            f"doc; public {sorted(cpub)}, private {sorted(cpriv)} in CMake")
        if cpub & cpriv:
            problems.append(f"module {name}: {sorted(cpub & cpriv)} both PUBLIC and PRIVATE in CMake")
        if not os.path.isdir(os.path.join(ROOT, cf)):
            problems.append(f"module {name}: folder {cf} does not exist")
            continue
        in_headers, in_all, unknown = included_modules(cf, folders, excluded)
        problems += [f"module {name}: {u}, which is no module's folder" for u in sorted(unknown)]
        in_headers.discard(name)
        in_all.discard(name)
        declared = cpub | cpriv
        for mod in sorted(in_all - declared):
            problems.append(f"module {name} includes {mod} but does not declare it in src/CMakeLists.txt")
        for mod in sorted(declared - in_all):
            problems.append(f"module {name} declares {mod} in src/CMakeLists.txt but includes none of it")
        for mod in sorted(in_headers - cpub):
            problems.append(f"module {name}: its headers include {mod}, so it must be PUBLIC")
        for mod in sorted(cpub - in_headers):
            problems.append(f"module {name}: no header includes {mod}, so it must be PRIVATE")
        if name in SEALED:
            for mod in sorted(reached_modules(cf, folders) - declared - {name}):
                problems.append(f"module {name} reaches {mod} through the headers it includes, "
                                f"though it does not declare it")
    for p in problems:
        print("architecture:", p)
    print(f"architecture: {len(cm)} modules checked, {len(problems)} disagreements")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
