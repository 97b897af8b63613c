"""What the scripts run and what their install lists provide: shared by tests/scripts (the static
check) and tests/scale (which runs scripts/stack with a PATH holding only those packages)."""
import functools
import os
import re
import shutil
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INSTALL = os.path.join(ROOT, "scripts", "lib", "install.sh")

# The scripts checked. What each may rely on is read from the script itself: the arrays it hands
# to ensure_packages (directly or in a function it calls), plus BUILD_PACKAGES from ./scripts/run.
SCRIPTS = ["scripts/stack", "scripts/secure-stack", "scripts/bench", "scripts/run"]
# Tools ensure_packages accepts from PATH instead of Debian (a newer Go, Node, Java, Maven).
PATH_TOOLS = {"go": "golang-go", "node": "nodejs", "npm": "nodejs", "java": "openjdk-17-jre-headless",
              "mvn": "maven"}
KEYWORDS = set("if then else elif fi for while until do done case esac in function select time "
               "! [[ ]] { } ( ) (( ))".split())
# Words that start a command but are not one (they run the next word, or are syntax).
WRAPPERS = {"$sudo", "exec", "command", "sudo", "nohup", "then", "do", "else", "!", "time", "if", "while",
            "until", "elif"}


def lists():
    out = subprocess.run(["bash", "-c", f'source "{INSTALL}"; for l in BUILD_PACKAGES TEST_PACKAGES '
                          'STACK_PACKAGES SECURE_STACK_PACKAGES BENCH_PACKAGES PUSHGATEWAY_PACKAGES; do '
                          'declare -n a=$l; echo "$l ${a[*]}"; done'], capture_output=True, text=True,
                         check=True).stdout
    return {line.split()[0]: line.split()[1:] for line in out.splitlines()}


@functools.lru_cache(maxsize=None)
def builtins():
    return set(subprocess.run(["bash", "-c", "compgen -b; compgen -k"], capture_output=True, text=True,
                              check=True).stdout.split())


def drop_comment(line):
    """The line without a trailing comment: a # after whitespace, outside quotes."""
    quote, prev = None, " "
    for i, ch in enumerate(line):
        if quote:
            if ch == quote and (quote == "'" or prev != "\\"):
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and prev.isspace():
            return line[:i]
        prev = ch
    return line


def strip(text):
    """The script without comments, heredoc bodies, quoted program text (python3 -c '...', awk
    '...'), arithmetic and plain strings, with continuation lines joined; command substitutions
    inside double quotes are kept as commands."""
    out, heredoc = [], None
    for line in text.split("\n"):
        if heredoc:
            if line.strip() == heredoc:
                heredoc = None
            continue
        m = re.search(r"<<-?\s*['\"]?(\w+)['\"]?", line)
        if m and "<<<" not in line:
            heredoc = m.group(1)
        if line.lstrip().startswith("#"):
            continue
        line = drop_comment(line)
        out.append(line)
    text = "\n".join(out).replace("\\\n", " ")
    text = re.sub(r"(?m)^\s*[\w|*.+-]+\)(?=\s)", "", text)  # case patterns
    text = re.sub(r"\bfor \w+ in\b", "for", text)
    text = re.sub(r"'[^']*'", "''", text)  # single-quoted text is never a command of ours
    text = re.sub(r"\(\((.*?)\)\)", " true ", text)  # arithmetic
    text = re.sub(r"\[\[(.*?)\]\]", lambda m: " true ; " + " ; ".join(re.findall(r"\$\(([^()]*)\)", m.group(1))), text)

    # Command substitutions (balanced, possibly inside double quotes) become lines of their own;
    # then double-quoted strings are only strings.
    subs, i = [], 0
    while (i := text.find("$(", i)) >= 0:
        depth, j = 0, i + 1
        while j < len(text):
            depth += {"(": 1, ")": -1}.get(text[j], 0)
            if depth == 0:
                break
            j += 1
        subs.append(text[i + 2:j])
        i += 2
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)
    text = re.sub(r"\b[A-Za-z_]\w*\+?=\([^)]*\)", "", text)  # array assignments
    return text + "\n" + "\n".join(re.sub(r'"(?:[^"\\]|\\.)*"', '""', x) for x in subs)


def split_functions(text):
    """(top-level text, {function name: body}) for functions written `name() {` ... `}`."""
    top, funcs, name, body = [], {}, None, []
    for line in text.split("\n"):
        m = re.match(r"^(?:function\s+)?([A-Za-z_][\w-]*)\s*\(\)\s*\{?(.*)$", line)
        if name is None and m:
            name, body = m.group(1), [m.group(2)]
            if re.search(r"\}\s*$", m.group(2)) and m.group(2).count("{") < m.group(2).count("}"):
                funcs[name], name = "\n".join(body), None
            continue
        if name is not None:
            if line.startswith("}"):
                funcs[name], name = "\n".join(body), None
            else:
                body.append(line)
        else:
            top.append(line)
    return "\n".join(top), funcs


def words(text):
    """The words in command position."""
    found = set()
    for seg in re.split(r"\|\||&&|[;&|`\n]|\$\(|\(|\)|\{ |\}", strip(text)):
        ws = seg.split()
        i = 0
        while i < len(ws):
            w = ws[i]
            if re.match(r"^[A-Za-z_]\w*(\[.*\])?\+?=", w) or w in WRAPPERS:
                i += 1
                continue
            if re.match(r"^\d*[<>]", w):
                i += 2 if re.match(r"^\d*[<>]+&?$", w) else 1
                continue
            if w == "timeout" and i + 1 < len(ws):  # timeout DURATION cmd
                found.add(w)
                i += 2
                continue
            if w in ("env", "setsid", "flock", "taskset", "xargs", "nice"):
                found.add(w)
                i += 1
                while i < len(ws) and (ws[i].startswith("-") or "=" in ws[i] or re.match(r"^[\d,]+$", ws[i])):
                    i += 1
                continue
            break
        if i >= len(ws):
            continue
        w = ws[i].strip('"')
        if (not w or w in KEYWORDS or w in builtins() or w.startswith(("$", "-", "[", "(", "'", "/"))
                or not re.match(r"^[A-Za-z][\w.+-]*$", w)):
            continue
        found.add(w)
    return found


def sourced(text):
    return [os.path.join(ROOT, "scripts", lib) for lib in
            re.findall(r'source "\$(?:ROOT|\(dirname "\$0"\))/(?:scripts/)?(lib/[\w.]+)"', text)]


def reachable(path):
    """The texts `path` can run: its top level, the top level of the libraries it sources, and
    the bodies of the functions reachable from there; and the names of those functions."""
    texts, todo = [], [os.path.join(ROOT, path)]
    while todo:
        f = todo.pop()
        t = open(f).read()
        texts.append(t)
        todo += sourced(t)
    funcs, tops = {}, []
    for t in texts:
        top, fs = split_functions(t)
        tops.append(top)
        funcs.update(fs)
    texts, seen, todo = list(tops), set(), list(tops)
    while todo:
        for w in words(todo.pop()):
            if w in funcs and w not in seen:
                seen.add(w)
                todo.append(funcs[w])
                texts.append(funcs[w])
    return texts, set(funcs)


def commands(path):
    """External commands `path` can run (see reachable)."""
    texts, funcs = reachable(path)
    return {w for t in texts for w in words(t) if w not in funcs}


def ensured_packages(path):
    """The Debian packages `path` installs when missing: the contents of every array it hands to
    ensure_packages, with `NAME=(...)`, `NAME+=(...)` and `"${OTHER[@]}"` resolved over the
    script and its libraries."""
    texts, _ = reachable(path)
    everything = open(os.path.join(ROOT, path)).read()
    for lib in sourced(everything) + [INSTALL]:
        everything += "\n" + open(lib).read()
    arrays = {}
    for name, op, body in re.findall(r"\b([A-Za-z_]\w*)(\+?=)\(([^)]*)\)", everything, re.S):
        arrays.setdefault(name, []).append(body)

    def expand(name, depth=0):
        out = []
        for body in arrays.get(name, []):
            for item in body.split():
                m = re.match(r'^"?\$\{(\w+)\[@\]\}"?$', item)
                if m and depth < 5:
                    out += expand(m.group(1), depth + 1)
                elif re.match(r"^[a-z0-9][a-z0-9.+-]+$", item):
                    out.append(item)
        return out

    pkgs = []
    calls = [drop_comment(line) for t in texts for line in t.split("\n") if not line.lstrip().startswith("#")]
    for args in re.findall(r"\bensure_packages((?:[ \t]+[A-Za-z_]\w*)+)", "\n".join(calls)):
        for name in args.split():
            pkgs += expand(name)
    return sorted(set(pkgs))


@functools.lru_cache(maxsize=None)
def package_of(cmd):
    if cmd in PATH_TOOLS:
        return PATH_TOOLS[cmd]
    for d in ("/usr/bin", "/bin", "/usr/sbin", "/sbin"):
        p = os.path.join(d, cmd)
        if os.path.exists(p):
            for cand in (p, os.path.realpath(p)):
                r = subprocess.run(["dpkg-query", "-S", cand], capture_output=True, text=True)
                if r.returncode == 0:
                    return r.stdout.split(":")[0].split(",")[0].strip()
    return None


@functools.lru_cache(maxsize=None)
def closure(pkgs):
    """The packages and everything they depend on (installed ones)."""
    if not pkgs:
        return frozenset()
    r = subprocess.run(["apt-cache", "depends", "--recurse", "--installed", "--no-recommends", "--no-suggests",
                        "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", *pkgs],
                       capture_output=True, text=True)
    names = {l.strip() for l in r.stdout.splitlines() if not l.startswith(" ")}
    names |= {l.split(":", 1)[1].strip() for l in r.stdout.splitlines() if "Depends:" in l}
    return frozenset(n.split(":")[0].strip("<>") for n in names) | frozenset(pkgs)


@functools.lru_cache(maxsize=None)
def base_system():
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Essential} ${Priority}\n"],
                         capture_output=True, text=True, check=True).stdout
    return frozenset(l.split()[0] for l in out.splitlines()
                     if " yes " in l or l.endswith((" required", " important")))




def allowed_packages(script):
    """The packages a script may rely on after ./scripts/run: its own lists, BUILD_PACKAGES, what
    they depend on, and Debian's base system."""
    own = ensured_packages(script) + lists()["BUILD_PACKAGES"]
    return closure(tuple(sorted(set(own)))) | base_system()


def stripped_path(script, directory):
    """A directory of links to the programs of allowed_packages(script) only (plus Go, Maven,
    Node or Java found on PATH when their package is allowed, as ensure_packages accepts them);
    use it as PATH to run the script as on a machine where only ./scripts/run has run."""
    os.makedirs(directory, exist_ok=True)
    pkgs = sorted(allowed_packages(script))
    out = subprocess.run(["dpkg-query", "-L", *pkgs], capture_output=True, text=True).stdout
    for f in out.splitlines():
        if re.match(r"^(/usr)?/s?bin/[^/]+$", f) or re.match(r"^/usr/lib/jvm/[^/]+/bin/[^/]+$", f):
            link = os.path.join(directory, os.path.basename(f))
            if os.path.exists(f) and os.access(f, os.X_OK) and not os.path.lexists(link):
                os.symlink(f, link)
    for tool, pkg in PATH_TOOLS.items():
        found = shutil.which(tool)
        link = os.path.join(directory, tool)
        if pkg in pkgs and found and not os.path.lexists(link):
            os.symlink(os.path.realpath(found), link)
    return directory
