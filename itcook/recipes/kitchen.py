"""The vocabulary of the local generator's dish styles: grouped ingredients and step phrasing.

``Kitchen`` holds one recipe's ingredients by category (see ``cookbook.py``); ``Style`` is one
kind of dish; the helpers write the clauses every style shares.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

PROTEIN = ("meat", "fish")
AROMA = ("aromatic", "pungent")
# Not seasonings: the steps say "the oil", and butter or flour do not belong in "season with".
_BASIC_WORDS = {"oil", "salt", "pepper", "butter", "flour"}
# A pantry staple a style adds: name, amount, unit, and the categories that replace it.
Staple = tuple[str, float, str, frozenset[str]]
_PADDING = ("Taste and adjust the seasoning with a little more salt or pepper if needed.",
            "Warm the plates or bowls so the dish stays hot at the table.")


def join(names: Iterable[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(names)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def the(names: Iterable[str]) -> str:
    return "the " + join(names)


def sentence(*parts: str) -> str:
    """Join clauses with semicolons into one capitalized sentence."""
    text = "; ".join(part for part in parts if part)
    return text[:1].upper() + text[1:] + "."


class Kitchen:
    """The ingredients of one recipe, grouped by category."""

    def __init__(self, category: dict[str, str]) -> None:
        self.category = category

    def categories(self) -> set[str]:
        return set(self.category.values())

    def of(self, *cats: str) -> list[str]:
        return sorted(name for name, cat in self.category.items() if cat in cats)

    def has(self, *cats: str) -> bool:
        return any(cat in cats for cat in self.category.values())

    def season(self, *used: str) -> str:
        """``salt and black pepper`` plus the user's own seasonings the steps do not name."""
        taken = _BASIC_WORDS | {word for phrase in used for word in phrase.split()}
        extra = [name for name in self.of("pantry") if not set(name.split()) & taken]
        return join(["salt", "black pepper", *(f"the {name}" for name in extra)])

    def garnish(self, *cats: str) -> str:
        """``, topped with the …`` for the herbs, nuts, cheese and raw greens (or ``cats``)."""
        names = self.of(*(cats or ("herb", "nuts", "cheese", "raw")))
        return f", topped with {the(names)}" if names else ""

    def juice(self) -> str:
        """Their own lemon or lime, squeezed, or the lemon juice of the staples."""
        return f"the juice of {the(self.of('citrus'))}" if self.has("citrus") else "the lemon juice"

    def side(self, *cats: str) -> str:
        names = self.of(*cats)
        return f" with {the(names)} on the side" if names else ""


@dataclass(frozen=True)
class Style:
    """One kind of dish."""

    title_format: str  # "{} stir-fry"; {} is the main ingredients
    plain_title: str  # the title when no ingredient is worth naming
    fits: Callable[[Kitchen], bool]
    staples: tuple[Staple, ...]
    build: Callable[[Kitchen], list[str]]
    uses: frozenset[str]  # categories the builder cooks with
    untitled: frozenset[str]  # categories never named in the title
    anchored_only: bool = False  # chosen only when a defining staple (pasta, rice…) is present

    def title(self, mains: list[str]) -> str:
        return self.title_format.format(join(mains)) if mains else self.plain_title

    def steps(self, kitchen: Kitchen) -> list[str]:
        steps = self.build(kitchen)
        unused = kitchen.categories() - self.uses - {"pantry"}
        if "citrus" in unused:
            steps[-1] += f" Serve with wedges of {the(kitchen.of('citrus'))} for squeezing."
        leftovers = kitchen.of(*(unused - {"citrus"}))
        if leftovers:
            steps[-1] += f" Serve {the(leftovers)} alongside."
        for tip in _PADDING[: max(0, 4 - len(steps))]:
            steps.insert(len(steps) - 1, tip)
        # Every builder stays within 8 by construction; this only guards a future edit.
        return steps[:7] + [" ".join(steps[7:])] if len(steps) > 8 else steps


def prep_step(k: Kitchen, protein: str = "into bite-sized pieces", veg_cats: tuple[str, ...] = (),
              veg: str = "into bite-sized pieces") -> str:
    """The knife work before cooking, as one step (empty when there is none)."""
    parts = []
    if k.has(*PROTEIN):
        parts.append(f"cut {the(k.of(*PROTEIN))} {protein}")
    if k.has("legume"):
        parts.append(f"drain {the(k.of('legume'))}")
    if veg_cats and k.has(*veg_cats):
        parts.append(f"cut {the(k.of(*veg_cats))} {veg}")
    if k.has(*AROMA):
        parts.append(f"finely chop {the(k.of(*AROMA))}")
    return sentence(*parts) if parts else ""


def minutes_for(k: Kitchen, meat: str, fish: str, other: str) -> str:
    """Cooking time set by the slowest protein present."""
    return meat if k.has("meat") else fish if k.has("fish") else other
