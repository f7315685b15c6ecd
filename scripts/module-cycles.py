#!/usr/bin/env python3
"""Import circles between the modules of a crate.

A module is a file under src/ (a directory's mod.rs is the directory); it depends on another
when it names it through `crate::` (in a `use` or a path) or, inside a directory module, through
`super::`. Prints every circle (strongly connected set of two or more modules) and exits 1 when
there is one. Tests (`#[cfg(test)] mod tests` at the end of a file) are left out: a test may
reach wherever it needs to.

    scripts/module-cycles.py crates/deadbolt-server crates/deadbolt-usecases
"""
import pathlib
import re
import sys


def module_name(src: pathlib.Path, path: pathlib.Path) -> str:
    rel = path.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return "::".join(parts) or "crate"


def without_tests(text: str) -> str:
    cut = re.search(r"^#\[cfg\(test\)\]\s*\nmod \w+ \{", text, re.M)
    return text[: cut.start()] if cut else text


def paths_named(text: str):
    """Every `crate::a::b` path, with `use crate::{a, b::c}` groups expanded."""
    text = re.sub(r"//[^\n]*", "", text)
    for m in re.finditer(r"\b(crate|super)::\{", text):
        depth, i = 1, m.end()
        while depth and i < len(text):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        for item in re.split(r",", re.sub(r"\{[^{}]*\}", "", text[m.end() : i - 1])):
            item = item.strip()
            if item:
                yield m.group(1), item
    for m in re.finditer(r"\b(crate|super)::([a-z_][a-z0-9_]*(?:::[a-z_][a-z0-9_]*)*)", text):
        yield m.group(1), m.group(2)


def graph(crate: pathlib.Path):
    src = crate / "src"
    modules = {module_name(src, p): p for p in src.rglob("*.rs")}
    edges = {name: set() for name in modules}
    for name, path in modules.items():
        here = name.split("::") if name != "crate" else []
        for root, rest in paths_named(without_tests(path.read_text())):
            segments = rest.split("::")
            if root == "super":
                segments = here[:-1] + segments
            # the module a path names: its longest prefix that is one
            target = None
            for k in range(len(segments), 0, -1):
                candidate = "::".join(segments[:k])
                if candidate in modules:
                    target = candidate
                    break
            if target and target != name and not name.startswith(target + "::"):
                edges[name].add(target)
    return edges


def circles(edges):
    index, low, on_stack, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    sys.setrecursionlimit(10_000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def main():
    found = False
    for crate in map(pathlib.Path, sys.argv[1:]):
        edges = graph(crate)
        for group in circles(edges):
            found = True
            print(f"{crate.name}: circle of {len(group)}: {', '.join(group)}")
            members = set(group)
            for a in group:
                inside = sorted(edges[a] & members)
                print(f"    {a} -> {', '.join(inside)}")
    if not found:
        print("no import circles")
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
