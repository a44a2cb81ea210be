"""The scorecard: what matched, in one place, computed from the artifacts and their claims.

Every table and figure of the talk gets a line per artifact that reproduces it: the paper's value
beside ours, the profile, and a status computed here, never typed:

=====================  ========================================================================
status                 rule
=====================  ========================================================================
matched exactly        every paper value of a comparable column equals ours
within rounding        every such value equals ours rounded to the paper's decimals
effect shown           no such match, and every claim that states the paper's effect holds
                       (the claims marked ``effect=True``; all claims when none is marked)
effect not shown       a claim that states the effect is false, or nothing (no matching value,
                       no claim) shows it
not run here           no artifact of this build reproduces the item
=====================  ========================================================================

The first rule that applies wins. Paper values of ``Column(comparable=False)`` columns (a synthetic
task beside COCO AP) are shown but never "matched": only a claim can show such an effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from .artifacts import Artifact, _fmt

__all__ = ["TalkItem", "TALK", "STATUSES", "status", "paper_vs_ours", "scorecard_rows"]

STATUSES = ("matched exactly", "within rounding", "effect shown", "effect not shown",
            "not run here")


@dataclass(frozen=True)
class TalkItem:
    """A table or figure of the talk, and the artifacts that reproduce it (none yet: empty)."""

    item: str
    paper: str
    artifacts: tuple[str, ...] = ()


#: The talk's tables and figures, in its order (Han Hu, "Towards Universal Learning Machine").
TALK: tuple[TalkItem, ...] = (
    TalkItem("The relation formula: attention, non-local and relation modules as one", "talk",
             ("one_formula",)),
    TalkItem("GCN results table and karate-club figures", "Kipf & Welling, ICLR 2017",
             ("graph_node_classification", "gcn_propagation")),
    TalkItem("Transformer self-attention slide", "Vaswani et al., 2017",
             ("transformer_numbers",)),
    TalkItem("Tables 1 and 2: head ablations", "Relation Networks (CVPR 2018)",
             ("rn_ablation_head",)),
    TalkItem("Table 3: inputs of duplicate removal", "Relation Networks (CVPR 2018)",
             ("rn_duplicate_removal_inputs",)),
    TalkItem("Table 4: NMS, SoftNMS and learned duplicate removal",
             "Relation Networks (CVPR 2018)", ("rn_duplicate_removal", "rn_dedup_forest")),
    TalkItem("Table 5: complexity of relation modules", "Relation Networks (CVPR 2018)",
             ("rn_complexity",)),
    TalkItem("Figure 4 and the class co-occurrence slide", "Relation Networks (CVPR 2018)",
             ("rn_figures",)),
    TalkItem("Learnable object-pixel relation (vs. RoIAlign)", "Learning Region Features (ECCV 2018)",
             ("region_extractors",)),
    TalkItem("Architecture table: ResNet vs LR-Net", "LR-Net (ICCV 2019)",
             ("lrnet_architecture",)),
    TalkItem("Implementation cost of the local relation layer", "LR-Net (ICCV 2019)",
             ("lrnet_benchmark",)),
    TalkItem("Accuracy vs kernel size", "LR-Net (ICCV 2019)", ("lrnet_kernel_size",)),
    TalkItem("Adversarial robustness", "LR-Net (ICCV 2019)", ("lrnet_robustness",)),
    TalkItem("Geometry priors and aggregation weights", "LR-Net (ICCV 2019)",
             ("lrnet_figures",)),
    TalkItem("Query-independent attention (statistical analysis)", "GCNet (2019)",
             ("gcnet_attention",)),
    TalkItem("COCO table: NL, SNL, SE, GC (parameters and FLOPs)", "GCNet (2019)",
             ("gcnet_coco_table",)),
    TalkItem("COCO table: NL, SNL, SE, GC (AP)", "GCNet (2019)", ("gcnet_coco_ap", "gcnet_budget")),
    TalkItem("Table 2: ablations", "GCNet (2019)", ("gcnet_ablations",)),
    TalkItem("Discussion: versus Deformable ConvNets", "Dai et al., 2017; Zhu et al., 2019",
             ("region_deformable",)),
    TalkItem("Extension: spatial-temporal object relation (tracking)", "STRN (ICCV 2019)",
             ("strn_benchmark", "strn_ablation")),
)


def _decimals(x: float | int) -> int:
    if isinstance(x, int):
        return 0
    text = repr(float(x))
    if "e" in text or "E" in text:
        return 12
    return len(text.split(".")[1].rstrip("0")) if "." in text else 0


def _pairs(art: Artifact) -> list[tuple[str, str, Any, Any]]:
    """(row, column, paper, ours) of every comparable, checked cell with both numbers."""
    out = []
    for col in art.columns:
        if not col.comparable or not col.checked:
            continue
        for r in art.rows:
            v = r.values.get(col.key, {})
            p, o = v.get("paper"), v.get("ours")
            if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (p, o)):
                out.append((r.label, col.label, p, o))
    return out


def status(art: Artifact | None) -> tuple[str, str]:
    """``(status, detail)`` of one artifact; see the module docstring for the rules."""
    if art is None:
        return "not run here", "no notebook of this build reproduces it"
    pairs = _pairs(art)
    if pairs and all(p == o for *_, p, o in pairs):
        return "matched exactly", f"{len(pairs)} value(s) equal the paper's"
    if pairs and all(round(o, _decimals(p)) == p for *_, p, o in pairs):
        return "within rounding", f"{len(pairs)} value(s) equal the paper's to its decimals"
    effect = [c for c in art.claims if c.get("effect")] or list(art.claims)
    if effect:
        false = [c for c in effect if not c["holds"]]
        if not false:
            return "effect shown", "; ".join(c["statement"] for c in effect)
        return "effect not shown", "false: " + "; ".join(c["statement"] for c in false)
    if pairs:
        off = sum(round(o, _decimals(p)) != p for *_, p, o in pairs)
        return "effect not shown", (f"{off} of {len(pairs)} paper value(s) not matched; no claim "
                                    f"states the effect")
    return "effect not shown", "no paper value to match and no claim states the effect"


def paper_vs_ours(art: Artifact | None, limit: int = 3) -> tuple[str, str]:
    """Short ``(paper, ours)`` texts: the first ``limit`` comparable pairs, or the paper values
    of non-comparable columns beside ours."""
    if art is None:
        return "", ""
    pairs = _pairs(art)
    if not pairs:  # not comparable: show them side by side anyway, labelled
        pairs = [(r.label, c.label, r.values[c.key]["paper"], r.values[c.key].get("ours"))
                 for c in art.columns for r in art.rows
                 if r.values.get(c.key, {}).get("paper") is not None]
    if not pairs:
        return "", ""
    shown = pairs[:limit]
    more = f" (+{len(pairs) - limit} more)" if len(pairs) > limit else ""
    paper = "; ".join(f"{row}, {col}: {_fmt(p)}" for row, col, p, _ in shown) + more
    ours = "; ".join(f"{row}, {col}: {_fmt(o)}" for row, col, _, o in shown) + more
    return paper, ours


def scorecard_rows(artifacts: Mapping[str, Artifact], talk: Iterable[TalkItem] = TALK
                   ) -> list[dict[str, Any]]:
    """One dict per (talk item, artifact): item, paper, artifact id (None when not run), profile,
    paper and ours texts, status and detail. Artifacts no item names come last, as their own
    items, so that nothing built is left off the card."""
    rows = []
    named = set()
    for t in talk:
        named.update(t.artifacts)
        for art_id in t.artifacts or (None,):
            art = artifacts.get(art_id) if art_id else None
            st, detail = status(art)
            paper, ours = paper_vs_ours(art)
            rows.append({"item": t.item, "paper": t.paper, "artifact": art_id if art else None,
                         "profile": art.profile if art else "", "paper_value": paper,
                         "ours": ours, "status": st, "detail": detail})
    for art_id in sorted(set(artifacts) - named):
        art = artifacts[art_id]
        st, detail = status(art)
        paper, ours = paper_vs_ours(art)
        src = art.source
        rows.append({"item": src.item if src else art.title, "paper": src.paper if src else "",
                     "artifact": art_id, "profile": art.profile, "paper_value": paper,
                     "ours": ours, "status": st, "detail": detail})
    return rows
