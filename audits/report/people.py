"""The parts of a report written for people who act on it (a data-protection officer, a
clinician, an ethics board), not for the auditor: a conclusion first, the claim in an attacker's
terms, the assumptions as a list, and a glossary.

The conclusion says three things: what was tested, what the test shows, and what it cannot
show. An audit can refute a privacy claim (a certified epsilon_lower above it) but never prove
one: a low epsilon_lower says that *this* attack, with *these* records, found no more leakage,
and the page says so in every case.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

__all__ = ["conclusion", "attacker_rows", "odds_sentence", "assumption_items", "GLOSSARY"]

GLOSSARY = (
    ("epsilon (ε)", "The privacy budget a release claims. Smaller is more private: whatever an "
     "attacker concludes about one person, their odds change by at most a factor e^ε (ε = 1: "
     "2.7-fold; ε = 4: 55-fold; ε = 8: about 3,000-fold)."),
    ("delta (δ)", "The small probability with which the ε guarantee may fail; it should be well "
     "below one over the number of people in the data."),
    ("epsilon_theory (the claim)", "The ε that the training's accountant computed and the "
     "release promises."),
    ("epsilon_lower (certified)", "What the audit proves, at the stated confidence: the release "
     "leaks at least this much. Above the claim, the claim is false."),
    ("estimate (not certified)", "A figure that rests on an assumption nobody tested; it is "
     "shown for context and never counts as a violation."),
    ("membership inference", "Guessing whether a given person's record was used to train the "
     "model, from the model's outputs on that record."),
    ("TPR / FPR", "True-positive rate: the share of people in the training data whom the attack "
     "flags. False-positive rate: the share of people not in it whom it flags anyway. What "
     "matters is the TPR at a small FPR: confident, correct accusations."),
    ("ROC curve", "TPR against FPR over every threshold of the attack's score; on log axes, to "
     "show the small FPRs. The DP limit is the highest curve the claimed ε and δ allow."),
    ("reference (shadow) models", "Models the attacker trains like the target on data of the "
     "same kind, to learn how a record's score behaves with and without it (LiRA, RMIA)."),
    ("LiRA, RMIA, loss attack", "Membership attacks: a likelihood-ratio test per record against "
     "reference models (LiRA, Carlini et al. 2022), a comparison with population records (RMIA, "
     "Zarifzadeh et al. 2024), or a threshold on the record's loss (Yeom et al. 2018)."),
    ("one-run bound", "A bound from one trained model: the audited records were split at random "
     "into members and non-members, and the number of correct guesses among the most confident "
     "ones certifies ε (Steinke et al. 2023)."),
    ("canary, Dirac canary", "A record planted to be detected. A Dirac canary is a gradient with "
     "one non-zero coordinate, the worst case that DP-SGD's clipping must hide."),
    ("runs per world", "In a multi-run audit, the number of trainings with the canary and, "
     "separately, without it."),
    ("ceiling", "The largest ε that a perfect attack could certify with this many trials; an "
     "audit cannot certify more, however leaky the release."),
    ("alpha", "The audit's error probability: the certified bound holds with probability at "
     "least 1 - alpha."),
)


def _num(x: Any) -> float | None:
    if x is None:
        return None
    if isinstance(x, str):
        return math.inf if x.strip().lower() in ("inf", "+inf", "infinity") else None
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def _f(x: float | None) -> str:
    if x is None:
        return "n/a"
    if math.isinf(x):
        return "infinite"
    return f"{x:.2f}" if abs(x) >= 0.01 or x == 0 else f"{x:.2g}"


def conclusion(r: Mapping[str, Any]) -> str:
    """What was tested, what it shows, what it cannot show: three sentences."""
    et, el = _num(r.get("epsilon_theory")), _num(r.get("epsilon_lower"))
    conf = f"{100 * (1 - float(r.get('alpha', 0.05))):.4g}%"
    model = r.get("model") if isinstance(r.get("model"), Mapping) else None
    what = (f"{model.get('description')} ({model.get('format')})" if model else "the release")
    claim_src = ""
    claim = r.get("claim") if isinstance(r.get("claim"), Mapping) else None
    if claim and claim.get("source"):
        claim_src = f", as stated by {claim['source']}"
    tested = (f"Tested: whether {what} leaks more than its claim of epsilon = {_f(et)} "
              f"(delta = {r.get('delta', 0):g}{claim_src}), under this threat model: "
              f"{r.get('threat_model')}.")
    if r.get("violation"):
        shows = (f"Shown: the claim is FALSE. With {conf} confidence the release leaks at least "
                 f"epsilon = {_f(el)}, more than the {_f(et)} it claims; do not rely on the claim "
                 "until the training or its accounting is fixed.")
    elif el is not None and el > 0:
        shows = (f"Shown: the release leaks at least epsilon = {_f(el)} ({conf} confidence), "
                 f"which is consistent with the claim of {_f(et)}.")
    else:
        shows = ("Shown: this audit found no measurable leakage (epsilon_lower = 0), which is "
                 "consistent with the claim.")
    cannot = ("Not shown: that the claim holds. An audit can refute a privacy claim, never prove "
              "it: a stronger attack, other records or more trials might find more leakage")
    top = _num(r.get("ceiling"))
    if top is not None and et is not None and math.isfinite(top) and top < et:
        cannot += (f"; with these trials no attack could have certified more than {_f(top)}, "
                   f"below the claim, so the claim's tightness was not tested")
    return " ".join((tested, shows, cannot + "."))


def attacker_rows(r: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(FPR, the most TPR the claim allows, the TPR measured) rows, when the record has them."""
    terms = r.get("attacker_terms")
    if not isinstance(terms, Mapping):
        return []
    out = []
    for row in terms.get("rows") or ():
        fpr = float(row["fpr"])
        note = "" if row.get("enough_non_members", True) else " (too few non-members to resolve)"
        out.append((f"{100 * fpr:g}% of non-members wrongly flagged",
                    f"{100 * float(row['tpr_allowed']):.1f}% of members",
                    f"{100 * float(row['tpr_measured']):.1f}% of members{note}"))
    return out


def odds_sentence(r: Mapping[str, Any]) -> str:
    """The claim as an odds factor, in one sentence (empty when the record has no terms)."""
    terms = r.get("attacker_terms")
    if not isinstance(terms, Mapping):
        return ""
    f = _num(terms.get("odds_factor"))
    post = _num(terms.get("posterior_from_even_prior"))
    if f is None or math.isinf(f):
        return ("No finite epsilon is claimed: the claim does not limit what an attacker can learn "
                "about whether a person was in the training data.")
    return (f"The claim of epsilon = {_f(_num(r.get('epsilon_theory')))} lets an attacker's odds "
            f"that a given person was in the training data grow at most {f:,.1f}-fold: from an even "
            f"guess (50%) to at most {100 * post:.1f}% (plus delta). The attack measured reached an "
            f"AUC of {float(terms.get('auc_measured', float('nan'))):.3f} (0.5 is guessing).")


def assumption_items(r: Mapping[str, Any]) -> list[str]:
    """The assumptions the bound rests on, then the notes, one item each."""
    items = [p.strip() for p in str(r.get("assumption") or "").split(";") if p.strip()]
    for t in r.get("tests") or ():
        items.append(f"tested: {t.get('name')} ({'passed' if t.get('passed') else 'refused'})")
    for n in r.get("notes") or ():
        items.append(str(n))
    return items
