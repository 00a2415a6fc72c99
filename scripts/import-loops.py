#!/usr/bin/env python3
"""Lists import loops between the modules (files) of src/: `use` paths and `crate::…`/`super::…`
references resolved to files. Exits 1 when there is a loop. Run from the repository root."""
import os, re, sys

SRC = "src"
files = {}
for root, _, names in os.walk(SRC):
    for name in names:
        if name.endswith(".rs"):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, SRC)[:-3].replace(os.sep, "/")
            parts = rel.split("/")
            if parts[-1] in ("mod", "lib"):
                parts = parts[:-1]
            files["::".join(parts)] = path

def resolve(module, ref):
    """The module a path like `super::x::y` or `crate::a::b` names, from `module`."""
    segs = ref.split("::")
    if segs[0] == "crate":
        base, segs = [], segs[1:]
    elif segs[0] in ("super", "self"):
        base = module.split("::") if module else []
        is_dir = files.get(module, "").endswith("mod.rs")
        while segs and segs[0] in ("super", "self"):
            if segs[0] == "super":
                base = base[:-1] if not is_dir or base != module.split("::") else base[:-1]
            segs = segs[1:]
    else:
        return None
    best = None
    for i in range(len(segs) + 1):
        cand = "::".join(base + segs[:i])
        if cand in files:
            best = cand
    return best

graph = {m: set() for m in files}
ref_re = re.compile(r"\b((?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)+)")
for module, path in files.items():
    text = open(path, encoding="utf-8").read()
    text = text.split("#[cfg(test)]")[0]
    for ref in ref_re.findall(text):
        target = resolve(module, ref)
        # A module's own children and parents are its structure, not an import.
        if target and target != module and not target.startswith(module + "::") and not module.startswith(target + "::") and target != "":
            graph[module].add(target)

loops, seen = [], set()
def dfs(node, stack, on):
    for nxt in sorted(graph[node]):
        if nxt in on:
            cyc = stack[stack.index(nxt):] + [nxt]
            key = frozenset(cyc)
            if key not in seen:
                seen.add(key)
                loops.append(" -> ".join(cyc))
        elif nxt not in done:
            on.add(nxt); stack.append(nxt)
            dfs(nxt, stack, on)
            stack.pop(); on.discard(nxt)
    done.add(node)
done = set()
for m in sorted(graph):
    if m not in done:
        dfs(m, [m], {m})
for l in loops:
    print("loop:", l)
print(f"{len(files)} modules, {len(loops)} import loops")
sys.exit(1 if loops else 0)
