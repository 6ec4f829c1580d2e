"""The knowledge behind the local generator: what an ingredient is, how much of it, which dish.

Pure functions, no randomness, no network. An ingredient name is matched to a category by
keywords (English and the most common Russian stems, as users of the seed write both); the dish
style is chosen among the styles that fit the categories by a stable hash of the normalized,
sorted names, so the same fridge always gives the same recipe and a different fridge may give a
different dish.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from itcook.recipes.kitchen import Kitchen
from itcook.recipes.styles import STYLES

# (category, amount for 2 servings, unit, keywords). Order matters: the first entry with a
# keyword in the name wins, so "coconut milk" is listed before "milk", "green bean" before "bean".
_TABLE: tuple[tuple[str, float | None, str, tuple[str, ...]], ...] = (
    ("veg", 1, "pc", ("eggplant", "aubergine", "баклажан")),
    ("veg", 300, "g", ("sweet potato", "batat", "батат", "butternut", "pumpkin", "squash", "тыкв")),
    ("veg", 200, "g", ("green bean", "runner bean", "стручков")),
    ("dairy", 200, "ml", ("coconut milk", "кокосов")),
    ("nuts", 2, "tbsp", ("peanut butter", "арахисовая паста")),
    ("pantry", 2, "tbsp", ("olive oil", "vegetable oil", "sunflower oil", "oil", "оливковое масло",
                           "растительное масло", "подсолнечное масло")),
    ("pantry", 20, "g", ("butter", "сливочное масло")),
    ("pantry", 1, "tsp", ("salt", "sea salt", "соль")),
    ("pantry", 0.5, "tsp", ("black pepper", "ground pepper", "peppercorn", "черный перец", "чёрный перец")),
    ("pantry", 2, "tbsp", ("soy sauce", "fish sauce", "oyster sauce", "vinegar", "honey", "flour", "sugar",
                           "ketchup", "mustard", "tomato paste", "соевый соус", "уксус", "мёд", "мед",
                           "мука", "сахар", "кетчуп", "горчиц", "томатная паста")),
    ("pantry", 1, "tsp", ("paprika", "cumin", "curry", "chili flakes", "паприк", "зира", "карри")),
    ("meat", 300, "g", ("chicken", "turkey", "beef", "pork", "lamb", "veal", "duck", "steak", "mince",
                        "minced meat", "куриц", "курин", "индейк", "говядин", "свинин", "баранин",
                        "телятин", "утк", "фарш", "стейк")),
    ("meat", 150, "g", ("bacon", "ham", "sausage", "chorizo", "salami", "бекон", "ветчин", "колбас",
                        "сосиск", "сардельк")),
    ("fish", 250, "g", ("salmon", "tuna", "cod", "trout", "mackerel", "haddock", "tilapia", "hake",
                        "fish", "shrimp", "prawn", "squid", "mussel", "лосос", "семг", "сёмг", "форел",
                        "треск", "тунец", "скумбри", "минта", "хек", "рыб", "кревет", "кальмар",
                        "мидии")),
    ("legume", 200, "g", ("tofu", "tempeh", "тофу")),
    ("legume", 240, "g", ("chickpea", "lentil", "bean", "нут", "чечевиц", "фасол")),
    # Starches before eggs and dairy: "egg noodles" are noodles, "rice noodles" too.
    ("pasta", 200, "g", ("pasta", "spaghetti", "penne", "macaroni", "fusilli", "linguine",
                         "tagliatelle", "farfalle", "rigatoni", "макарон", "спагетти", "паста")),
    ("noodles", 200, "g", ("noodle", "ramen", "udon", "soba", "лапш")),
    ("rice", 150, "g", ("rice", "рис")),
    ("grain", 150, "g", ("quinoa", "couscous", "bulgur", "buckwheat", "barley", "millet", "киноа",
                         "кускус", "булгур", "гречк", "греча", "перловк", "пшен")),
    ("oats", 80, "g", ("oat", "oatmeal", "porridge", "овсян", "овёс", "овес", "геркулес")),
    ("egg", 3, "pcs", ("egg", "яйц", "яичн")),
    ("cheese", 60, "g", ("cheese", "cheddar", "mozzarella", "parmesan", "feta", "halloumi", "ricotta",
                         "gouda", "brie", "сыр", "брынз", "моцарелл", "пармезан", "фет")),
    ("dairy", 150, "g", ("yogurt", "yoghurt", "sour cream", "cottage cheese", "quark", "йогурт",
                         "сметан", "творог")),
    ("dairy", 150, "ml", ("milk", "cream", "kefir", "молок", "сливк", "кефир")),
    ("potato", 400, "g", ("potato", "картоф", "картош")),
    ("bread", 4, "slices", ("bread", "baguette", "toast", "ciabatta", "pita", "tortilla", "хлеб",
                            "батон", "багет", "лаваш")),
    ("pungent", 2, "cloves", ("garlic", "чеснок")),
    ("pungent", 10, "g", ("ginger", "chili", "chilli", "jalapeño", "jalapeno", "имбир", "чили")),
    ("aromatic", 3, "pcs", ("scallion", "spring onion", "green onion", "зелёный лук", "зеленый лук")),
    ("aromatic", 1, "pc", ("onion", "shallot", "leek", "лук", "порей")),
    ("leafy", 100, "g", ("spinach", "kale", "chard", "шпинат")),
    # Eaten raw: a salad or a topping, never boiled or stir-fried.
    ("raw", 100, "g", ("lettuce", "arugula", "rocket", "watercress", "salad", "radish", "салат", "руккол",
                       "латук", "редис")),
    ("raw", 1, "pc", ("avocado", "cucumber", "авокадо", "огур")),
    ("fresh", 2, "pcs", ("tomato", "помидор", "томат")),
    ("fresh", 1, "pc", ("bell pepper", "pepper", "перец")),
    ("fresh", 100, "g", ("celery", "corn", "sweetcorn", "olive", "сельдер", "кукуруз", "маслин", "оливк")),
    ("veg", 1, "pc", ("carrot", "zucchini", "courgette", "beet", "beetroot", "морков", "кабач", "цукини",
                      "свекл", "свёкл")),
    ("veg", 200, "g", ("broccoli", "cauliflower", "mushroom", "cabbage", "pea", "asparagus",
                       "brussels sprout", "брокколи", "капуст", "гриб", "шампиньон", "горош", "спарж")),
    ("herb", 10, "g", ("basil", "parsley", "cilantro", "coriander", "dill", "mint", "thyme", "rosemary",
                       "chive", "oregano", "herb", "базилик", "петруш", "кинз", "укроп", "мят",
                       "тимьян", "розмарин", "зелень")),
    ("nuts", 30, "g", ("almond", "walnut", "cashew", "peanut", "pistachio", "hazelnut", "pecan", "nut",
                       "seed", "миндал", "грецк", "кешью", "арахис", "фисташ", "фундук", "орех",
                       "семечк", "семена")),
    ("fruit", 150, "g", ("berry", "strawberry", "blueberry", "raspberry", "cherry", "grape", "ягод",
                         "клубник", "черник", "малин", "вишн", "черешн", "виноград")),
    ("citrus", 1, "pc", ("lemon", "lime", "лимон", "лайм")),
    ("fruit", 2, "pcs", ("apple", "banana", "pear", "orange", "peach", "mango", "kiwi", "plum",
                         "apricot", "pineapple", "яблок", "банан", "груш", "апельсин", "мандарин",
                         "персик", "манго", "киви", "слив", "абрикос", "ананас")),
)


def _pattern(keyword: str) -> re.Pattern[str]:
    # Russian keywords are stems (endings vary with case and number); English ones are whole
    # words with their plural, so "pea" finds "peas" but not "peach", and "egg" not "eggplant".
    if not keyword.isascii():
        return re.compile(r"(?<!\w)" + re.escape(keyword))
    body = (re.escape(keyword[:-1]) + "(?:y|ies)" if keyword.endswith("y")
            else re.escape(keyword) + "(?:e?s)?")
    return re.compile(r"(?<!\w)" + body + r"(?!\w)")


_KEYWORDS: tuple[tuple[re.Pattern[str], str, float | None, str], ...] = tuple(
    (_pattern(keyword), category, amount, unit)
    for category, amount, unit, keywords in _TABLE for keyword in keywords
)
_OTHER = ("other", 100.0, "g")

# Lower rank names the dish first in its title.
_TITLE_RANK = {"meat": 0, "fish": 0, "legume": 1, "veg": 2, "potato": 2, "leafy": 3, "fresh": 3, "raw": 3,
               "fruit": 3, "other": 4, "cheese": 5, "egg": 6, "grain": 7, "rice": 7, "noodles": 7,
               "pasta": 7, "oats": 8, "citrus": 8, "herb": 9, "nuts": 9, "dairy": 10, "aromatic": 11,
               "pungent": 11, "bread": 12}
_SWEET = {"fruit", "citrus", "dairy", "nuts", "oats", "herb", "pantry"}


def normalize(name: str) -> str:
    """One spelling per ingredient: trimmed, single spaces, case-folded."""
    return " ".join(name.split()).casefold()


def classify(name: str) -> tuple[str, float | None, str]:
    """Return (category, default amount, unit) of a normalized ingredient name."""
    for pattern, category, amount, unit in _KEYWORDS:
        if pattern.search(name):
            return category, amount, unit
    return _OTHER


def _stable_index(names: list[str], modulo: int) -> int:
    digest = hashlib.sha256("\n".join(names).encode()).digest()
    return int.from_bytes(digest[:8], "big") % modulo


def choose_style(kitchen: Kitchen, names: list[str]) -> str:
    """Pick a fitting dish style for these ingredients, the same one every time."""
    cats = kitchen.categories()
    if cats <= _SWEET and cats & {"fruit", "oats"}:
        candidates = ["porridge"] if "oats" in cats else ["fruit salad", "smoothie"]
    else:
        # A staple that defines the dish comes first: pasta makes a pasta dish, and so on.
        anchored = next((styles for cat, styles in (
            ("pasta", ["pasta"]), ("rice", ["fried rice", "curry", "bowl"]),
            ("noodles", ["stir-fry", "soup"]), ("grain", ["bowl", "salad"])) if cat in cats), None)
        pool = anchored or [key for key in STYLES if not STYLES[key].anchored_only]
        candidates = [key for key in pool if STYLES[key].fits(kitchen)]
        if not candidates:
            candidates = anchored[:1] if anchored else (["toast"] if "bread" in cats else ["soup"])
    return candidates[_stable_index(names, len(candidates))]


def _title(style_key: str, kitchen: Kitchen, names: list[str]) -> str:
    style = STYLES[style_key]
    mains = sorted((n for n in names if kitchen.category[n] not in style.untitled),
                   key=lambda n: (_TITLE_RANK.get(kitchen.category[n], 20), n))
    for count in (3, 2, 1, 0):
        title = style.title(mains[:count])
        if len(title) <= 200:
            return title[:1].upper() + title[1:]
    return style.title([])[:200]  # pragma: no cover - a title without names is short


def compose(ingredients: list[str]) -> tuple[str, list[dict[str, Any]], list[str]]:
    """Return (title, ingredients with amounts, steps) for a list of ingredient names."""
    names = sorted({normalize(name) for name in ingredients if normalize(name)})
    if not names:
        raise ValueError("no ingredients")
    defaults = {name: classify(name) for name in names}
    kitchen = Kitchen({name: cat for name, (cat, _a, _u) in defaults.items()})
    style_key = choose_style(kitchen, names)
    style = STYLES[style_key]
    items: list[dict[str, Any]] = [
        {"name": name, "amount": _number(amount), "unit": unit}
        for name, (_c, amount, unit) in sorted(defaults.items(),
                                                key=lambda kv: (_TITLE_RANK.get(kv[1][0], 20), kv[0]))
    ]
    have = [set(name.split()) for name in names]
    for staple, amount, unit, unless in style.staples:
        # A staple the user already has ("sea salt", "oil" for "olive oil") or one a category
        # replaces (their milk for the porridge milk) is not listed twice.
        words = set(staple.split())
        if unless & kitchen.categories() or any(words <= own or own <= words for own in have):
            continue
        items.append({"name": staple, "amount": _number(amount), "unit": unit})
    return _title(style_key, kitchen, names), items, style.steps(kitchen)


def _number(value: float | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value
