"""Dish styles of the local generator: when each fits, its pantry staples and how to cook it.

Each builder writes concrete steps from the ingredients grouped by category, naming every
ingredient where it is used; ``Style.steps`` keeps the result between 4 and 8 steps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from itcook.recipes.kitchen import (
    AROMA,
    PROTEIN,
    Kitchen,
    Staple,
    Style,
    minutes_for,
    prep_step,
    sentence,
    the,
)


def _any(*cats: str) -> Callable[[Kitchen], bool]:
    return lambda k: k.has(*cats)


def _staple(name: str, amount: float, unit: str, *unless: str) -> Staple:
    return name, amount, unit, frozenset(unless)


def _stir_fry(k: Kitchen) -> list[str]:
    cut = ("veg", "potato", "fresh", "other", "fruit")
    protein, veg = k.of(*PROTEIN, "legume"), k.of(*cut)
    starch = k.of("noodles", "rice", "grain", "pasta")
    steps = [prep_step(k, "into thin strips", cut, "into thin, even pieces")]
    if starch:
        steps.append(f"Cook {the(starch)} according to the packet instructions, drain and keep warm.")
    heat = "Heat the oil in a wok or large frying pan over high heat"
    if protein:
        steps.append(f"{heat.replace('the oil', '1 tbsp of the oil')} and stir-fry {the(protein)} for "
                     f"{minutes_for(k, '5-6', '3-4', '4-5')} minutes until golden and cooked through; "
                     "set aside.")
        heat = "Heat the remaining oil"
    actions = ([f"stir-fry {the(k.of(*AROMA))} for 30 seconds"] if k.has(*AROMA) else []) + \
        ([f"add {the(veg)} and stir-fry for 3-4 minutes until crisp-tender"] if veg else []) + \
        ([f"add {the(k.of('leafy'))} for the last minute"] if k.has("leafy") else [])
    if actions:
        steps.append(f"{heat}, " + ", then ".join(actions) + ".")
        heat = ""
    if k.has("egg"):
        eggs = the(k.of("egg"))
        steps.append(f"{heat}, pour in {eggs}, beaten, and scramble until just set." if heat else
                     f"Push everything to one side, pour {eggs}, beaten, into the space and scramble "
                     "until just set, then stir through.")
        heat = ""
    back = f"return {the(protein)} to the pan, " if protein else ""
    add = f"add {the(starch + k.of('dairy'))} and the soy sauce" if starch or k.has("dairy") else \
        "add the soy sauce"
    steps.append(sentence(f"{heat + ', ' if heat else ''}{back}{add}, toss for 1-2 minutes and season with "
                          f"{k.season('soy sauce')}"))
    steps.append(f"Serve hot{k.garnish('herb', 'nuts', 'raw')}.")
    return [s for s in steps if s]


def _soup(k: Kitchen) -> list[str]:
    hard, soft = k.of("potato", "veg", "other"), k.of("leafy", "fresh", "fruit")
    starch_fish = k.of("rice", "pasta", "noodles", "grain", "fish")
    steps = [prep_step(k, "into bite-sized pieces", ("potato", "veg", "other", "fresh", "fruit"),
                   "into 1-2 cm cubes")]
    first = "Heat the olive oil in a large pot over medium heat"
    if k.has(*AROMA):
        first += f", soften {the(k.of(*AROMA))} for 5 minutes"
    if k.has("meat"):
        first += f"{', then' if k.has(*AROMA) else ' and'} brown {the(k.of('meat'))} for 3-4 minutes"
    steps.append(first + ".")
    simmered = hard + k.of("legume")
    steps.append(f"Add {the(simmered)}, pour in the vegetable stock and bring to the boil; simmer for "
                 "15-20 minutes until tender." if simmered else
                 "Pour in the vegetable stock, bring to the boil and simmer for 15 minutes.")
    if starch_fish:
        steps.append(f"Add {the(starch_fish)} and simmer for 8-10 minutes more until cooked.")
    late = ([f"stir in {the(soft)} and cook for 2 minutes"] if soft else []) + \
        ([f"slowly pour in {the(k.of('egg'))}, beaten, stirring so they set in ribbons"]
         if k.has("egg") else [])
    if late:
        steps.append(sentence(", then ".join(late)))
    if k.has("dairy"):
        steps.append(f"Lower the heat and stir in {the(k.of('dairy'))}; warm through without boiling.")
    steps.append(f"Season with {k.season('olive oil')}, ladle into bowls and serve{k.garnish()}"
                 f"{k.side('bread')}.")
    return [s for s in steps if s]


def _bake(k: Kitchen) -> list[str]:
    veg = k.of("potato", "veg", "fresh", "other", "fruit", "leafy")
    steps = ["Preheat the oven to 200 °C (180 °C fan) and lightly oil a baking dish.",
             prep_step(k, "into even portions", ("potato", "veg", "fresh", "other", "fruit", "leafy"),
                   "into 2-3 cm chunks")]
    tossed = bool(veg) or k.has("legume", *AROMA)
    if tossed:
        steps.append(f"Toss {the(veg + k.of('legume', *AROMA))} with the olive oil, dried herbs, salt and "
                     "black pepper and spread in the dish.")
    if k.has(*PROTEIN):
        how = ("season with salt and black pepper and lay on top of the vegetables" if tossed else
               "rub with the olive oil, dried herbs, salt and black pepper and place in the dish")
        steps.append(f"Pat {the(k.of(*PROTEIN))} dry, {how}.")
    liquid = k.of("egg") + k.of("dairy")
    if liquid:
        steps.append(f"Whisk {the(liquid)} with a pinch of salt and pour evenly over the dish.")
    minutes = "40-45" if k.has("potato") else minutes_for(k, "35-40", "20-25", "25-30")
    steps.append(f"Bake for {minutes} minutes until everything is tender, golden at the edges and "
                 "cooked through.")
    if k.has("cheese"):
        steps.append(f"Scatter {the(k.of('cheese'))} over the top and bake for 5 more minutes until "
                     "bubbling.")
    steps.append(f"Rest for 5 minutes, then serve{k.garnish('herb', 'nuts', 'raw')}{k.side('bread')}"
                 f"; season with {k.season('olive oil', 'dried herbs')} to taste.")
    return [s for s in steps if s]


def _omelette(k: Kitchen) -> list[str]:
    filling = k.of(*AROMA, *PROTEIN, "legume", "potato", "veg", "fresh", "other", "fruit", "leafy")
    liquid = the(k.of("dairy")) if k.has("dairy") else "the milk"
    steps = [f"Crack {the(k.of('egg'))} into a bowl, add {liquid}, a pinch of salt and black pepper and "
             "whisk until smooth."]
    if filling:
        steps.append(f"Cut {the(filling)} into small, thin pieces.")
        steps.append(f"Melt the butter in a non-stick frying pan over medium heat and cook {the(filling)} "
                     f"for {minutes_for(k, '6-8', '4-5', '4-5')} minutes until soft and cooked through.")
    pour = "Pour the eggs over the filling" if filling else \
        "Melt the butter in a non-stick frying pan over medium heat, pour in the eggs"
    steps.append(f"{pour} and cook for 1-2 minutes, drawing the set edges towards the centre.")
    if k.has("cheese", "herb"):
        steps.append(f"When the top is almost set, scatter over {the(k.of('cheese', 'herb'))}.")
    steps.append("Fold the omelette in half, cook for 30 seconds more and slide onto a warm plate.")
    steps.append(f"Serve at once{k.garnish('nuts', 'raw')}{k.side('bread')}; season with "
                 f"{k.season('butter', 'milk')} to taste.")
    return steps


def _salad(k: Kitchen) -> list[str]:
    cooked = k.of(*PROTEIN) + k.of("egg") + k.of("potato", "veg") + k.of("grain", "rice", "pasta", "noodles")
    oil = "the olive oil"
    steps = []
    if k.has(*PROTEIN):
        minutes = minutes_for(k, "6-8", "3-4", "5")
        steps.append(f"Season {the(k.of(*PROTEIN))} with salt and pepper and pan-fry in 1 tbsp of the olive "
                     f"oil for {minutes} minutes per side until cooked through; rest, then slice.")
        oil = "the remaining olive oil"
    boil = ([f"boil {the(k.of('potato', 'veg'))} in salted water until just tender, 8-15 minutes"]
            if k.has("potato", "veg") else []) + \
        ([f"hard-boil {the(k.of('egg'))} for 9 minutes"] if k.has("egg") else []) + \
        ([f"cook {the(k.of('grain', 'rice', 'pasta', 'noodles'))} according to the packet"]
         if k.has("grain", "rice", "pasta", "noodles") else [])
    if boil:
        steps.append(sentence(" and ".join(boil), "drain, cool under cold water and cut into bite-sized "
                              "pieces (peel the eggs first)" if k.has("egg") else
                              "drain, cool under cold water and cut into bite-sized pieces"))
    fresh = ("leafy", "raw", "fresh", "fruit", "other")
    bowl = ([f"wash and dry {the(k.of(*fresh))}, then cut into bite-sized pieces"]
            if k.has(*fresh) else []) + \
        ([f"thinly slice {the(k.of('aromatic'))}"] if k.has("aromatic") else []) + \
        ([f"drain and rinse {the(k.of('legume'))}"] if k.has("legume") else [])
    steps.append(sentence(*bowl, "put everything in a large bowl"))
    extras = k.of("pungent", "dairy")
    steps.append(f"Whisk {oil} with {k.juice()}{', ' + the(extras) if extras else ''}, "
                 f"{k.season('olive oil', 'lemon juice')} to make a dressing.")
    steps.append(f"Add {the(cooked)} to the bowl, pour over the dressing and toss gently." if cooked else
                 "Pour the dressing over the salad and toss gently.")
    steps.append(f"Serve straight away{k.garnish('herb', 'nuts', 'cheese')}{k.side('bread')}.")
    return steps


def _pasta(k: Kitchen) -> list[str]:
    veg = k.of("veg", "potato", "fresh", "other", "fruit", "leafy", "legume")
    steps = [f"Bring a large pot of salted water to the boil and cook {the(k.of('pasta'))} until al dente, "
             "8-10 minutes; keep a cup of the cooking water, then drain.",
             prep_step(k, "into bite-sized pieces", ("veg", "potato", "fresh", "other", "fruit", "leafy"))]
    first = "Heat the olive oil in a large frying pan over medium heat"
    if k.has(*PROTEIN):
        first += f" and cook {the(k.of(*PROTEIN))} for {minutes_for(k, '5-6', '3-4', '4')} minutes until " \
                 "browned and cooked through"
    steps.append(first + ".")
    actions = ([f"add {the(k.of(*AROMA))} and cook for 1-2 minutes"] if k.has(*AROMA) else []) + \
        ([f"add {the(veg)} and cook for 5-7 minutes until soft"] if veg else [])
    if actions:
        steps.append(sentence(", then ".join(actions)))
    if k.has("dairy"):
        steps.append(f"Pour in {the(k.of('dairy'))} and simmer for 2 minutes to make a light sauce.")
    cheese = f", {the(k.of('cheese'))}" if k.has("cheese") else ""
    eggs = (f"; off the heat, quickly stir through {the(k.of('egg'))}, beaten, so they turn creamy "
            "without scrambling") if k.has("egg") else ""
    steps.append(f"Add the drained pasta{cheese} and a splash of the cooking water and toss until glossy"
                 f"{eggs}; season with {k.season('olive oil')}.")
    steps.append(f"Serve at once{k.garnish('herb', 'nuts', 'raw')}{k.side('bread')}.")
    return [s for s in steps if s]


def _fried_rice(k: Kitchen) -> list[str]:
    protein, veg = k.of(*PROTEIN, "legume"), k.of("veg", "potato", "fresh", "other", "fruit", "leafy")
    steps = [f"Rinse {the(k.of('rice'))} and simmer in 1.5 times its volume of salted water for 12-15 "
             "minutes; spread out to cool (day-old rice fries best).",
             prep_step(k, "into small pieces", ("veg", "potato", "fresh", "other", "fruit", "leafy"),
                   "into small dice")]
    heat = "Heat the oil in a wok over high heat"
    if protein:
        steps.append(f"Heat 1 tbsp of the oil in a wok over high heat and stir-fry {the(protein)} for "
                     f"{minutes_for(k, '5-6', '3-4', '4')} minutes until cooked through; set aside.")
        heat = "Heat the remaining oil"
    actions = ([f"stir-fry {the(k.of(*AROMA))} for 30 seconds"] if k.has(*AROMA) else []) + \
        ([f"add {the(veg)} for 2-3 minutes"] if veg else [])
    if actions:
        steps.append(f"{heat}, " + ", then ".join(actions) + ".")
        heat = ""
    steps.append(f"{heat + ', add' if heat else 'Add'} the rice and stir-fry for 3-4 minutes until hot and "
                 "lightly toasted, breaking up any clumps.")
    if k.has("egg"):
        steps.append(f"Push the rice to one side, pour {the(k.of('egg'))}, beaten, into the space and "
                     "scramble, then stir through.")
    back = f"Return {the(protein)} to the wok, add" if protein else "Add"
    steps.append(f"{back} the soy sauce{', ' + the(k.of('dairy')) if k.has('dairy') else ''}, toss well and "
                 f"season with {k.season('soy sauce')}.")
    steps.append(f"Serve hot{k.garnish('herb', 'nuts', 'raw')}.")
    return [s for s in steps if s]


def _curry(k: Kitchen) -> list[str]:
    hard, soft = k.of("potato", "veg", "other", "legume"), k.of("fish", "leafy", "fresh", "fruit")
    steps = [prep_step(k, "into bite-sized pieces", ("potato", "veg", "other", "fresh", "fruit"),
                   "into 2 cm pieces")]
    first = "Heat the oil in a large pan over medium heat"
    if k.has(*AROMA):
        first += f", soften {the(k.of(*AROMA))} for 5 minutes"
    if k.has("meat"):
        first += f"{', then' if k.has(*AROMA) else ' and'} brown {the(k.of('meat'))} for 4-5 minutes"
    steps.append(first + ".")
    steps.append("Stir in the curry powder and cook for 1 minute until fragrant.")
    liquid = f"the water and {the(k.of('dairy'))}" if k.has("dairy") else "the water"
    steps.append(f"Add {the(hard)}, pour in {liquid} and simmer for 20 minutes until tender." if hard else
                 f"Pour in {liquid} and simmer for 20 minutes until the sauce thickens.")
    if soft:
        steps.append(f"Add {the(soft)} and simmer for 5 minutes more.")
    if k.has("egg"):
        steps.append(f"Meanwhile, hard-boil {the(k.of('egg'))} for 9 minutes, peel and halve; add them to "
                     "the curry for the last 2 minutes.")
    if k.has("rice", "grain"):
        steps.append(f"Meanwhile, cook {the(k.of('rice', 'grain'))} in salted water for 12-15 minutes and "
                     "drain.")
    over = f" over {the(k.of('rice', 'grain'))}" if k.has("rice", "grain") else ""
    steps.append(f"Season with {k.season('curry powder')} and serve{over}{k.garnish()}"
                 f"{k.side('bread')}.")
    return [s for s in steps if s]


def _bowl(k: Kitchen) -> list[str]:
    base = k.of("grain", "rice")
    hot = k.of(*AROMA, "potato", "veg", "other")
    steps = [f"Rinse {the(base)} and simmer in twice its volume of salted water until tender, 12-20 minutes; "
             "fluff with a fork.",
             prep_step(k, "into thin slices", ("potato", "veg", "other", "fresh", "raw", "fruit", "leafy"))]
    oil = "the olive oil"
    minutes = minutes_for(k, "6-8", "3-4", "5")
    cooked = ([f"pan-fry {the(k.of(*PROTEIN))} for {minutes} minutes until cooked through"]
              if k.has(*PROTEIN) else []) + \
        ([f"fry {the(k.of('egg'))} until the whites are set"] if k.has("egg") else []) + \
        ([f"cook {the(hot)} in the same pan for 6-8 minutes until tender"] if hot else [])
    if cooked:
        steps.append(sentence("heat 1 tbsp of the olive oil in a frying pan over medium-high heat",
                              ", then ".join(cooked)))
        oil = "the remaining olive oil"
    dairy = f", {the(k.of('dairy'))}" if k.has("dairy") else ""
    steps.append(f"Whisk {oil} with {k.juice()}{dairy}, {k.season('olive oil', 'lemon juice')} to make "
                 "a dressing.")
    toppings = k.of(*PROTEIN, "egg", "potato", "veg", "other", "legume", "fresh", "raw", "leafy", "fruit")
    steps.append(f"Divide the grains between bowls, arrange {the(toppings)} on top and drizzle with the "
                 "dressing." if toppings else
                 "Divide the grains between bowls and drizzle with the dressing.")
    steps.append(f"Serve warm{k.garnish('herb', 'nuts', 'cheese')}{k.side('bread')}.")
    return [s for s in steps if s]


def _fruit_salad(k: Kitchen) -> list[str]:
    steps = [f"Wash {the(k.of('fruit'))} and pat dry.",
             "Peel, core or stone the fruit as needed and cut into bite-sized pieces; put in a bowl.",
             f"Drizzle with {k.juice()} and the honey and toss gently so the fruit does not brown."]
    steps.append(f"Spoon {the(k.of('dairy'))} into bowls and top with the fruit." if k.has("dairy") else
                 "Chill for 10 minutes to let the flavours mingle.")
    steps.append(f"Serve chilled{k.garnish('herb', 'nuts')}.")
    return steps


def _smoothie(k: Kitchen) -> list[str]:
    liquid = the(k.of("dairy")) if k.has("dairy") else "the cold water"
    extras = k.of("nuts", "herb")
    return [f"Peel and roughly chop {the(k.of('fruit'))}.",
            f"Put the fruit in a blender with {liquid}{', ' + the(extras) if extras else ''} and the honey.",
            "Add the ice cubes and blend on high for 45-60 seconds until completely smooth.",
            "Taste, and add a splash more liquid if it is too thick.",
            "Pour into glasses and serve straight away."]


def _porridge(k: Kitchen) -> list[str]:
    liquid = the(k.of("dairy")) if k.has("dairy") else "the milk"
    steps = [f"Put {the(k.of('oats'))} in a saucepan with {liquid} and a pinch of salt.",
             "Bring to a gentle simmer and cook for 4-5 minutes, stirring often, until thick and creamy."]
    if k.has("fruit"):
        steps.append(f"Meanwhile, wash and slice {the(k.of('fruit'))}.")
    steps.append("Take off the heat and let stand for 1 minute to thicken.")
    tops = k.of("fruit", "nuts", "herb")
    top = f", top with {the(tops)}" if tops else ""
    steps.append(f"Spoon into bowls{top} and finish with a drizzle of honey.")
    return steps


def _toast(k: Kitchen) -> list[str]:
    toppings = k.of(*AROMA, "legume", "veg", "fresh", "raw", "leafy", "fruit", "other")
    steps = ["Heat the grill (broiler) or a dry frying pan over medium-high heat.",
             f"Slice {the(k.of('bread'))} about 1.5 cm thick and brush lightly with the olive oil.",
             "Toast for 1-2 minutes per side until golden and crisp."]
    prep = ([f"thinly slice {the(toppings)}"] if toppings else []) + \
        ([f"fry {the(k.of('egg'))} in a little oil until the whites are set"] if k.has("egg") else [])
    if prep:
        steps.append(sentence("meanwhile, " + ", and ".join(prep)))
    top = k.of(*AROMA, "legume", "veg", "fresh", "raw", "leafy", "fruit", "other", "dairy", "egg", "cheese")
    melt = "; return under the grill for 2 minutes to melt the cheese" if k.has("cheese") else ""
    if top:
        steps.append(f"Top the toast with {the(top)} and season with {k.season('olive oil')}{melt}.")
    steps.append(f"Serve warm{k.garnish('herb', 'nuts')}.")
    return steps


_SAVOURY = frozenset({"meat", "fish", "legume", "egg", "cheese", "dairy", "aromatic", "pungent", "leafy",
                      "raw", "fresh", "veg", "potato", "other", "fruit", "herb", "nuts", "bread"})
_STARCH = frozenset({"pasta", "rice", "noodles", "grain"})
_FRUITY = frozenset({"fruit", "citrus", "dairy", "nuts", "herb"})
_SALT_PEPPER = (_staple("salt", 1, "tsp"), _staple("black pepper", 0.5, "tsp"))
_DRESSING = (_staple("olive oil", 3, "tbsp"), _staple("lemon juice", 1, "tbsp", "citrus"), *_SALT_PEPPER)
_UNTITLED = frozenset({"pantry", "aromatic", "pungent", "dairy", "herb", "citrus", "raw"})


def _style(title: str, plain: str, fits: Callable[[Kitchen], bool], staples: tuple[Staple, ...],
           build: Callable[[Kitchen], list[str]], uses: frozenset[str], untitled: Iterable[str] = (),
           anchored_only: bool = False, titled: Iterable[str] = ()) -> Style:
    # Raw greens and the like only garnish a cooked dish; styles that eat them raw name them.
    untitled = (_UNTITLED | frozenset(untitled)) - frozenset(titled)
    return Style(title, plain, fits, staples, build, uses, untitled, anchored_only)


def _toast_fits(k: Kitchen) -> bool:
    return k.has("bread") and not k.has("meat", "fish", "potato", "oats", *_STARCH)


STYLES: dict[str, Style] = {
    "stir-fry": _style("{} stir-fry", "Quick stir-fry",
                       _any("meat", "fish", "legume", "veg", "leafy", "other"),
                       (_staple("vegetable oil", 2, "tbsp"), _staple("soy sauce", 2, "tbsp"), *_SALT_PEPPER),
                       _stir_fry, _SAVOURY - {"cheese", "bread"} | _STARCH, {"cheese"}),
    "soup": _style("{} soup", "Simple soup", _any("meat", "fish", "legume", "veg", "potato", "leafy", "fresh",
                                                   "other"),
                   (_staple("olive oil", 1, "tbsp"), _staple("vegetable stock", 1, "l"), *_SALT_PEPPER),
                   _soup, _SAVOURY | _STARCH),
    "bake": _style("{} bake", "Oven bake", _any("meat", "fish", "potato", "veg", "legume", "other"),
                   (_staple("olive oil", 2, "tbsp"), _staple("dried herbs", 1, "tsp"), *_SALT_PEPPER),
                   _bake, _SAVOURY),
    "omelette": _style("{} omelette", "Classic omelette", _any("egg"),
                       (_staple("butter", 1, "tbsp"), _staple("milk", 2, "tbsp", "dairy"), *_SALT_PEPPER),
                       _omelette, _SAVOURY, {"egg"}),
    "salad": _style("{} salad", "Green salad", _any("leafy", "raw", "fresh", "legume", "fruit"), _DRESSING,
                    _salad, _SAVOURY | _STARCH | {"citrus"}, titled={"raw"}),
    "curry": _style("{} curry", "Vegetable curry", _any("meat", "fish", "legume", "veg", "potato"),
                    (_staple("vegetable oil", 2, "tbsp"), _staple("curry powder", 2, "tbsp"),
                     _staple("water", 300, "ml"), *_SALT_PEPPER),
                    _curry, _SAVOURY | {"rice", "grain"}, {"cheese"}),
    "toast": _style("{} on toast", "Golden toast", _toast_fits,
                    (_staple("olive oil", 1, "tbsp"), *_SALT_PEPPER), _toast, _SAVOURY, {"bread"},
                    titled={"raw"}),
    "pasta": _style("{} pasta", "Pasta with olive oil", _any("pasta"),
                    (_staple("olive oil", 2, "tbsp"), *_SALT_PEPPER), _pasta, _SAVOURY | {"pasta"},
                    {"pasta"}, anchored_only=True),
    "fried rice": _style("{} fried rice", "Simple fried rice", _any("rice"),
                         (_staple("vegetable oil", 2, "tbsp"), _staple("soy sauce", 2, "tbsp"),
                          *_SALT_PEPPER),
                         _fried_rice, _SAVOURY - {"cheese", "bread"} | {"rice"}, {"rice", "cheese"},
                         anchored_only=True),
    "bowl": _style("{} grain bowl", "Warm grain bowl", _any("grain", "rice"), _DRESSING,
                   _bowl, _SAVOURY | {"grain", "rice", "citrus"}, {"grain", "rice"}, anchored_only=True,
                   titled={"raw"}),
    "fruit salad": _style("{} fruit salad", "Fruit salad", _any("fruit"),
                          (_staple("lemon juice", 1, "tbsp", "citrus"), _staple("honey", 1, "tbsp")),
                          _fruit_salad, _FRUITY, anchored_only=True),
    "smoothie": _style("{} smoothie", "Fruit smoothie", _any("fruit"),
                       (_staple("cold water", 200, "ml", "dairy"), _staple("honey", 1, "tbsp"),
                        _staple("ice cubes", 4, "pcs")),
                       _smoothie, _FRUITY - {"citrus"}, anchored_only=True),
    "porridge": _style("{} porridge", "Creamy porridge", _any("oats"),
                       (_staple("milk", 400, "ml", "dairy"), _staple("honey", 1, "tbsp"),
                        _staple("salt", 1, "pinch")),
                       _porridge, _FRUITY - {"citrus"} | {"oats"}, {"oats", "nuts"}, anchored_only=True),
}
