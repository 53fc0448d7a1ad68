"""Dutch child-directed speech: a small lexicon, utterance templates, minimal-pair paradigms.

Register: lower case, the final mark attached to the last word ("waar is de bal?").

Grammar notes that the minimal pairs rely on:
* the finite verb agrees with the subject (``de hond slaapt`` / ``de honden slapen``), also across
  a prepositional phrase; after an inverted ``jij`` the verb is the bare stem (``slaap jij?``);
* singular nouns are ``de`` or ``het`` words (``deze/die`` vs ``dit/dat``); plurals are all ``de``;
* an attributive adjective takes ``-e`` except after ``een`` with a singular ``het`` noun
  (``een groot huis``, ``een grote hond``, ``het grote huis``);
* main clauses are verb-second (``vandaag speelt de hond``); subordinate clauses after ``dat`` and
  ``omdat`` put the finite verb last (``omdat de hond de bal pakt``);
* numerals above one take a plural noun.
"""

from __future__ import annotations

import random

from .common import Paradigm, Words, expand, move, render_spaced, replace, split_pairs

CODE = "nld"
render = render_spaced


def _nouns(spec: str, gender: str) -> list[tuple[str, str, str]]:
    """Parse a noun table and tag every noun with its gender (``"de"`` or ``"het"``)."""
    return [(sg, pl, gender) for sg, pl in split_pairs(spec)]


ANIMALS = _nouns(
    "hond honden, kat katten, vogel vogels, eend eenden, koe koeien, beer beren, muis muizen, aap apen,"
    "leeuw leeuwen, olifant olifanten, kikker kikkers, vis vissen, uil uilen, poes poezen", "de"
) + _nouns("paard paarden, varken varkens, schaap schapen, konijn konijnen, hert herten, kuiken kuikens", "het")
PEOPLE = _nouns(
    "jongen jongens, man mannen, vrouw vrouwen, baby baby's, broer broers, zus zussen, oma oma's, opa opa's", "de"
) + _nouns("meisje meisjes, kind kinderen", "het")
THINGS = _nouns(
    "bal ballen, auto auto's, trein treinen, boot boten, pop poppen, appel appels, banaan bananen,"
    "koek koeken, fiets fietsen, bloem bloemen, boom bomen, stoel stoelen, deur deuren, schoen schoenen,"
    "sok sokken, beker bekers, lepel lepels, tafel tafels, doos dozen, jas jassen, muts mutsen", "de"
) + _nouns(
    "boek boeken, huis huizen, bed bedden, raam ramen, ei eieren, vliegtuig vliegtuigen, blok blokken,"
    "kopje kopjes, bord borden, koekje koekjes, glas glazen", "het"
)
PLACES = _nouns(
    "tafel tafels, doos dozen, stoel stoelen, boom bomen, auto auto's, boot boten, tuin tuinen", "de"
) + _nouns("bed bedden, huis huizen", "het")
FOOD = _nouns("appel appels, banaan bananen, koek koeken", "de") + _nouns("ei eieren, koekje koekjes", "het")
AGENTS = ANIMALS + PEOPLE
NOUNS = AGENTS + THINGS
AGENT_SET = set(AGENTS)

# Attributive adjectives: (bare, inflected).
# By animacy, so that toys are red and puppies are sweet.
ANIMATE_ADJECTIVES = split_pairs(
    "groot grote, klein kleine, lief lieve, mooi mooie, oud oude, wit witte, zwart zwarte,"
    "vrolijk vrolijke, dik dikke, leuk leuke, boos boze, vies vieze"
)
THING_ADJECTIVES = split_pairs(
    "groot grote, klein kleine, rood rode, blauw blauwe, geel gele, groen groene, mooi mooie,"
    "zacht zachte, oud oude, nieuw nieuwe, wit witte, zwart zwarte, leuk leuke, vies vieze"
)
ADJECTIVES_OF = {noun: ANIMATE_ADJECTIVES for noun in AGENTS} | {noun: THING_ADJECTIVES for noun in THINGS + PLACES}
PREDICATES = "moe blij boos lief groot klein vies nat stout ziek".split()
THING_PREDICATES = "groot klein vies nat schoon warm koud zacht mooi leuk nieuw".split()

# Verbs: infinitive (= plural), stem (ik; inverted jij), 3rd singular (hij; plain jij unless listed).
INTRANSITIVE = split_pairs(
    "slapen slaap slaapt, lopen loop loopt, springen spring springt, spelen speel speelt,"
    "zwemmen zwem zwemt, dansen dans danst, zingen zing zingt, huilen huil huilt, lachen lach lacht,"
    "zitten zit zit, vallen val valt, rennen ren rent, wandelen wandel wandelt, kruipen kruip kruipt,"
    "eten eet eet, fietsen fiets fietst"
)
TRANSITIVE = split_pairs(
    "zien zie ziet, pakken pak pakt, hebben heb heeft, vinden vind vindt, gooien gooi gooit,"
    "duwen duw duwt, eten eet eet, lezen lees leest, halen haal haalt, knuffelen knuffel knuffelt,"
    "schoppen schop schopt, vangen vang vangt, wassen was wast, brengen breng brengt, maken maak maakt,"
    "zoeken zoek zoekt, dragen draag draagt, aaien aai aait, kopen koop koopt, tekenen teken tekent"
)
ZIJN = ("zijn", "ben", "is")
MODALS = [("willen", "wil", "wil"), ("gaan", "ga", "gaat"), ("kunnen", "kan", "kan")]
POSITIONAL = [("zitten", "zit", "zit"), ("liggen", "lig", "ligt"), ("staan", "sta", "staat")]
JIJ_FORM = {"zijn": "bent", "hebben": "hebt", "kunnen": "kunt", "willen": "wilt"}
COMMANDS = [v for v in TRANSITIVE if v[0] not in ("zien", "hebben", "vinden")]
# Verbs whose object may be a person or an animal; the others take things (food for "eten").
ANY_OBJECT = set("zien hebben vinden zoeken knuffelen aaien wassen duwen tekenen dragen halen".split())
ANY_OBJECT_VERBS = [v for v in TRANSITIVE if v[0] in ANY_OBJECT]
COUNTING_VERBS = [v for v in TRANSITIVE if v[0] in ("zien", "hebben", "tekenen")]

PRONOUNS = {"ik": "1sg", "jij": "2sg", "hij": "3sg", "wij": "pl", "jullie": "pl"}
PRONOUN_LIST = list(PRONOUNS)

SG_DETS = {
    "de": expand([("de", 10), ("een", 5), ("deze", 2), ("die", 2), ("mijn", 2), ("jouw", 2)]),
    "het": expand([("het", 10), ("een", 5), ("dit", 2), ("dat", 2), ("mijn", 2), ("jouw", 2)]),
}
PL_DETS = expand([("de", 10), ("deze", 2), ("die", 2), ("mijn", 2), ("jouw", 2), ("twee", 2), ("drie", 1), ("veel", 1)])
NUMERALS = ["twee", "drie", "vier"]
GENDER_FLIP = {"de": "het", "het": "de", "deze": "dit", "dit": "deze", "die": "dat", "dat": "die"}
DEMONSTRATIVES = {"de": ("deze", "die"), "het": ("dit", "dat")}
LOCATIVE = ["in", "op", "onder", "bij", "naast", "achter"]
ATTRACTOR_PREPS = ["bij", "naast", "met", "achter", "onder", "op"]
FRONTED = ["nu", "vandaag", "morgen", "straks", "soms", "hier", "daar"]
# "nu" and "daar" can also open a subordinate clause, so their verb-final bad order would be a
# fragment rather than a word-order error: the V2 pairs front only these.
FRONTED_FOR_PAIRS = ["vandaag", "morgen", "straks", "soms", "hier"]
TAILS = [["buiten"], ["lekker"], ["nu"], ["samen"]]
MATRICES = [
    ["ik", "denk", "dat"], ["ik", "weet", "dat"], ["mama", "zegt", "dat"], ["papa", "ziet", "dat"],
    ["ik", "ben", "blij", "omdat"], ["het", "is", "leuk", "dat"], ["kijk,", "ik", "zie", "dat"],
]
FIXED = [
    ["goed", "zo", "!"], ["oei", "!"], ["kom", "maar", "!"], ["niet", "doen", "!"], ["dag", "dag", "!"],
    ["klaar", "!"], ["kijk", "eens", "!"], ["pas", "op", "!"], ["dank", "je", "wel", "!"], ["welterusten", "!"],
]


def predicates_of(noun: tuple[str, str, str]) -> list[str]:
    """Predicate adjectives that suit the noun: people and animals are "moe", toys "nat"."""
    return PREDICATES if noun in AGENT_SET else THING_PREDICATES


def form(verb: tuple[str, str, str], agr: str) -> str:
    """The finite form for an agreement class; ``inv2`` is ``jij`` after the verb (bare stem)."""
    if agr == "pl":
        return verb[0]
    if agr in ("1sg", "inv2"):
        return verb[1]
    if agr == "2sg":
        return JIJ_FORM.get(verb[0], verb[2])
    return verb[2]


def inverted(agr: str) -> str:
    """The agreement class after subject-verb inversion (``jij`` loses its -t)."""
    return "inv2" if agr == "2sg" else agr


def agr_of(num: int) -> str:
    """Agreement class of a noun phrase of number ``num`` (0 singular, 1 plural)."""
    return "pl" if num else "3sg"


def adjective_form(adjective: tuple[str, str], det: str, noun: tuple[str, str, str], num: int) -> str:
    """Bare after ``een`` (or no article) with a singular ``het`` noun; ``-e`` everywhere else."""
    bare = num == 0 and noun[2] == "het" and det in ("een", "geen")
    return adjective[0] if bare else adjective[1]


def noun_phrase(rng: random.Random, noun: tuple[str, str, str], num: int, det: str | None = None,
                adj_rate: float = 0.3) -> Words:
    """Determiner (drawn when not given), an optional inflected adjective, the noun."""
    det = det or rng.choice(PL_DETS if num else SG_DETS[noun[2]])
    if rng.random() < adj_rate:
        return [det, adjective_form(rng.choice(ADJECTIVES_OF[noun]), det, noun, num), noun[num]]
    return [det, noun[num]]


def definite(noun: tuple[str, str, str], num: int) -> str:
    """The definite article: the noun's own gender when singular, "de" when plural."""
    return "de" if num else noun[2]


def subject(rng: random.Random, nouns: list = AGENTS, pronoun_rate: float = 0.2) -> tuple[Words, str]:
    """A subject and its agreement class (``1sg``, ``2sg``, ``3sg``, ``pl``)."""
    if rng.random() < pronoun_rate:
        pronoun = rng.choice(PRONOUN_LIST)
        return [pronoun], PRONOUNS[pronoun]
    num = rng.randrange(2)
    return noun_phrase(rng, rng.choice(nouns), num), agr_of(num)


def obj(rng: random.Random, nouns: list = NOUNS) -> Words:
    """An object noun phrase from ``nouns``, plural 40% of the time."""
    return noun_phrase(rng, rng.choice(nouns), int(rng.random() < 0.4))


def objects_of(verb: tuple[str, str, str]) -> list:
    """The nouns a verb takes as object: food is eaten, anything is seen, toys are thrown."""
    if verb[0] == "eten":
        return FOOD
    return NOUNS if verb[0] in ANY_OBJECT else THINGS


def verb_object(rng: random.Random, verbs: list = TRANSITIVE) -> tuple[tuple[str, str, str], Words]:
    """A transitive verb and an object it can take: (eten, ["een", "appel"])."""
    verb = rng.choice(verbs)
    return verb, obj(rng, objects_of(verb))


def place(rng: random.Random) -> Words:
    """A locative PP: "in de tuin", "op het bed"."""
    noun = rng.choice(PLACES)
    det = rng.choice((noun[2], noun[2], "mijn", "jouw"))
    return [rng.choice(LOCATIVE), *noun_phrase(rng, noun, 0, det, 0.2)]


def verb_phrase(rng: random.Random) -> tuple[tuple[str, str, str], Words]:
    """A verb and what follows it in a main clause (object, adverb, place, or nothing)."""
    if rng.random() < 0.5:
        return verb_object(rng)
    roll = rng.random()
    tail = rng.choice(TAILS) if roll < 0.3 else place(rng) if roll < 0.5 else []
    return rng.choice(INTRANSITIVE), tail


# ---- declaratives ------------------------------------------------------------------------


def simple(rng: random.Random) -> Words:
    """E.g. "de hond slaapt.", "de meisjes pakken de bal."."""
    s, agr = subject(rng)
    verb, rest = verb_phrase(rng)
    return [*s, form(verb, agr), *rest, "."]


def copula(rng: random.Random) -> Words:
    """E.g. "de hond is moe.", "de katten zijn in de tuin."."""
    s, agr = subject(rng)
    return [*s, form(ZIJN, agr), *(place(rng) if rng.random() < 0.25 else [rng.choice(PREDICATES)]), "."]


def across_pp(rng: random.Random) -> Words:
    """"de hond bij de katten slaapt.": the verb agrees with the first noun."""
    num = rng.randrange(2)
    noun = rng.choice(AGENTS)
    head = noun_phrase(rng, noun, num, rng.choice((definite(noun, num), "mijn")))
    pp_noun = rng.choice(NOUNS)
    pp_num = rng.randrange(2)
    pp = [rng.choice(ATTRACTOR_PREPS), *noun_phrase(rng, pp_noun, pp_num, definite(pp_noun, pp_num), 0.2)]
    if rng.random() < 0.4:
        return [*head, *pp, form(ZIJN, agr_of(num)), rng.choice(PREDICATES), "."]
    verb, rest = verb_phrase(rng)
    return [*head, *pp, form(verb, agr_of(num)), *rest, "."]


def verb_second(rng: random.Random) -> Words:
    """A fronted adverb or place, then the verb, then the subject: "vandaag speelt de hond."."""
    front = place(rng) if rng.random() < 0.2 else [rng.choice(FRONTED)]
    s, agr = subject(rng, pronoun_rate=0.3)
    verb, rest = verb_phrase(rng)
    if rest and rest[0] in LOCATIVE and front[0] in LOCATIVE:
        rest = []
    return [*front, form(verb, inverted(agr)), *s, *rest, "."]


def modal(rng: random.Random) -> Words:
    """A modal or ``gaan`` second, the infinitive last: "het meisje wil de bal pakken."."""
    s, agr = subject(rng, pronoun_rate=0.3)
    if rng.random() < 0.5:
        verb, o = verb_object(rng)
        return [*s, form(rng.choice(MODALS), agr), *o, verb[0], "."]
    return [*s, form(rng.choice(MODALS), agr), rng.choice(INTRANSITIVE)[0], "."]


def subordinate_clause(rng: random.Random, transitive: bool | None = None) -> Words:
    """Subject, object or adverb, and the finite verb last: "de hond de bal pakt"."""
    s, agr = subject(rng, pronoun_rate=0.25)
    if transitive if transitive is not None else rng.random() < 0.6:
        verb, o = verb_object(rng)
        return [*s, *o, form(verb, agr)]
    tail = rng.choice(TAILS) if rng.random() < 0.5 else []
    return [*s, *tail, form(rng.choice(INTRANSITIVE), agr)]


def subordinate(rng: random.Random) -> Words:
    """"ik denk dat de hond de bal pakt.": the finite verb last."""
    return [*rng.choice(MATRICES), *subordinate_clause(rng), "."]


def deictic(rng: random.Random) -> Words:
    """E.g. "dat is een groot huis.", "daar zijn twee honden."."""
    num = rng.randrange(2)
    noun = rng.choice(NOUNS)
    if num:
        det = rng.choice(("mijn", "jouw", "de", rng.choice(NUMERALS)))
    else:
        det = rng.choice(("een", "een", "mijn", "jouw", noun[2]))
    word = rng.choice(("dat", "dit", "daar"))
    return [word, form(ZIJN, agr_of(num)), *noun_phrase(rng, noun, num, det, 0.4), "."]


def existential(rng: random.Random) -> Words:
    """"er zit een vogel in de boom." / "er zitten twee vogels in de boom."."""
    num = rng.randrange(2)
    det = rng.choice(NUMERALS) if num else "een"
    np_ = noun_phrase(rng, rng.choice(NOUNS), num, det, 0.4)
    return ["er", form(rng.choice(POSITIONAL), agr_of(num)), *np_, *place(rng), "."]


def counting(rng: random.Random) -> Words:
    """"ik zie twee honden." / "wij hebben een groot huis."."""
    num = rng.randrange(2)
    s, agr = subject(rng, pronoun_rate=0.7)
    det = rng.choice(NUMERALS) if num else "een"
    verb = rng.choice(COUNTING_VERBS)
    return [*s, form(verb, agr), *noun_phrase(rng, rng.choice(NOUNS), num, det, 0.4), "."]


def demonstrative(rng: random.Random) -> Words:
    """"deze hond is lief." / "dit huis is groot." / "die ballen zijn rood."."""
    num = rng.randrange(2)
    noun = rng.choice(NOUNS)
    dem = rng.choice(DEMONSTRATIVES["de" if num else noun[2]])
    return [*noun_phrase(rng, noun, num, dem, 0.3), form(ZIJN, agr_of(num)), rng.choice(predicates_of(noun)), "."]


# ---- questions ----------------------------------------------------------------------------


def where(rng: random.Random) -> Words:
    """E.g. "waar is de bal?", "waar zijn mijn schoenen?"."""
    num = rng.randrange(2)
    noun = rng.choice(NOUNS)
    det = rng.choice((definite(noun, num), definite(noun, num), "mijn", "jouw"))
    return ["waar", form(ZIJN, agr_of(num)), *noun_phrase(rng, noun, num, det), "?"]


def verb_first(rng: random.Random) -> Words:
    """E.g. "slaapt de hond?", "ben jij moe?"."""
    s, agr = subject(rng, pronoun_rate=0.3)
    if rng.random() < 0.3:
        return [form(ZIJN, inverted(agr)), *s, rng.choice(PREDICATES), "?"]
    verb, rest = verb_phrase(rng)
    return [form(verb, inverted(agr)), *s, *rest, "?"]


def wh_question(rng: random.Random) -> Words:
    """E.g. "wat doet de kat?", "wie heeft de bal?"."""
    s, agr = subject(rng, pronoun_rate=0.3)
    roll = rng.random()
    if roll < 0.4:
        return ["wat", form(("doen", "doe", "doet"), inverted(agr)), *s, "?"]
    if roll < 0.7:
        return ["wat", form(rng.choice(TRANSITIVE), inverted(agr)), *s, "?"]
    verb, o = verb_object(rng)
    return ["wie", form(verb, "3sg"), *o, "?"]


def little_question(rng: random.Random) -> Words:
    """E.g. "wil jij een koekje?", "weet jij waar de hond slaapt?"."""
    roll = rng.random()
    if roll < 0.3:
        return [rng.choice(("wil", "zie", "heb")), "jij", *noun_phrase(rng, rng.choice(THINGS), 0, "een"), "?"]
    if roll < 0.6:
        num = rng.randrange(2)
        return [form(ZIJN, agr_of(num)), "dat", *noun_phrase(rng, rng.choice(NOUNS), num, "jouw", 0.2), "?"]
    if roll < 0.8:
        return ["wat", "is", "dat", "?"]
    return ["weet", "jij", "waar", *subordinate_clause(rng, transitive=False), "?"]


# ---- imperatives --------------------------------------------------------------------------


def look(rng: random.Random) -> Words:
    """E.g. "kijk naar de grote hond!", "kijk, twee eenden!"."""
    num = rng.randrange(2)
    noun = rng.choice(NOUNS)
    if rng.random() < 0.6:
        return ["kijk", "naar", *noun_phrase(rng, noun, num, None, 0.4), "!"]
    det = rng.choice(NUMERALS) if num else "een"
    return ["kijk,", *noun_phrase(rng, noun, num, det, 0.4), "!"]


def command(rng: random.Random) -> Words:
    """E.g. "pak de bal!", "geef mij het boek!"."""
    roll = rng.random()
    if roll < 0.6:
        verb, o = verb_object(rng, COMMANDS)
        return [verb[1], *o, "!"]
    if roll < 0.85:
        return ["geef", "mij", *obj(rng, THINGS), "!"]
    return ["kom", "eens", "hier", "!"]


def fixed(rng: random.Random) -> Words:
    """A routine: "goed zo!", "oei!"."""
    return list(rng.choice(FIXED))


TEMPLATES = expand([
    (simple, 14), (copula, 7), (across_pp, 16), (verb_second, 10), (modal, 6), (subordinate, 9),
    (deictic, 5), (existential, 4), (counting, 5), (demonstrative, 5), (where, 5), (verb_first, 7),
    (wh_question, 4), (little_question, 3), (look, 6), (command, 5), (fixed, 2),
])


def sentence(rng: random.Random) -> Words:
    """One utterance of the corpus, drawn from the weighted templates above."""
    return rng.choice(TEMPLATES)(rng)


# ---- minimal pairs ------------------------------------------------------------------------


def rich_np(rng: random.Random, nouns: list, num: int) -> Words:
    """A noun phrase with an adjective most of the time: "mijn lieve poes"."""
    noun = rng.choice(nouns)
    return noun_phrase(rng, noun, num, rng.choice((definite(noun, num), "mijn", "jouw")), 0.7)


def pair_agreement(rng: random.Random) -> tuple[Words, Words]:
    """"de grote hond slaapt buiten." / "*de grote hond slapen buiten."."""
    num = rng.randrange(2)
    s = rich_np(rng, AGENTS, num)
    if rng.random() < 0.3:
        verb, rest = ZIJN, [rng.choice(PREDICATES)]
    else:
        verb, rest = verb_phrase(rng)
    good = [*s, form(verb, agr_of(num)), *rest, "."]
    return good, replace(good, len(s), form(verb, agr_of(1 - num)))


def pair_agreement_across_pp(rng: random.Random) -> tuple[Words, Words]:
    """"de hond bij de katten slaapt." / "*de hond bij de katten slapen."."""
    num = rng.randrange(2)
    noun = rng.choice(AGENTS)
    head = noun_phrase(rng, noun, num, definite(noun, num), 0.4)
    pp_noun = rng.choice(NOUNS)
    pp = [rng.choice(ATTRACTOR_PREPS), *noun_phrase(rng, pp_noun, 1 - num, definite(pp_noun, 1 - num), 0.2)]
    if rng.random() < 0.4:
        verb, rest = ZIJN, [rng.choice(PREDICATES)]
    else:
        verb, rest = verb_phrase(rng)
    good = [*head, *pp, form(verb, agr_of(num)), *rest, "."]
    return good, replace(good, len(head) + len(pp), form(verb, agr_of(1 - num)))


def pair_determiner_gender(rng: random.Random) -> tuple[Words, Words]:
    """"ik zie het kleine paard." / "*ik zie de kleine paard."."""
    noun = rng.choice(NOUNS)
    np_ = noun_phrase(rng, noun, 0, noun[2], 1.0)
    roll = rng.random()
    if roll < 0.4:
        s, agr = subject(rng, pronoun_rate=0.3)
        prefix, suffix = [*s, form(rng.choice(ANY_OBJECT_VERBS), agr)], ["."]
    elif roll < 0.75:
        verb, rest = verb_phrase(rng)
        prefix, suffix = [], [form(verb, "3sg"), *rest, "."]
    elif roll < 0.9:
        prefix, suffix = ["kijk", "naar"], ["!"]
    else:
        prefix, suffix = ["waar", "is"], ["?"]
    good = [*prefix, *np_, *suffix]
    return good, replace(good, len(prefix), GENDER_FLIP[noun[2]])


def pair_adjective_inflection(rng: random.Random) -> tuple[Words, Words]:
    """"dat is een groot huis." / "*dat is een grote huis."; "de grote hond" / "*de groot hond"."""
    noun = rng.choice(NOUNS)
    det = "een" if rng.random() < 0.6 else noun[2]
    adjective = rng.choice(ADJECTIVES_OF[noun])
    good_adj = adjective_form(adjective, det, noun, 0)
    bad_adj = adjective[1] if good_adj == adjective[0] else adjective[0]
    np_ = [det, good_adj, noun[0]]
    roll = rng.random()
    if roll < 0.15:
        prefix, suffix = [rng.choice(("dat", "dit")), "is"], ["."]
    elif roll < 0.65:
        s, agr = subject(rng, pronoun_rate=0.3)
        prefix, suffix = [*s, form(rng.choice(ANY_OBJECT_VERBS), agr)], ["."]
    elif roll < 0.75 or det != "een":
        # "er zit ..." wants an indefinite noun phrase, so definite ones go here too.
        prefix, suffix = ["kijk", "naar"] if det != "een" else ["kijk,"], ["!"]
    else:
        prefix, suffix = ["er", form(rng.choice(POSITIONAL), "3sg")], [*place(rng), "."]
    good = [*prefix, *np_, *suffix]
    return good, replace(good, len(prefix) + 1, bad_adj)


def pair_subordinate_verb_final(rng: random.Random) -> tuple[Words, Words]:
    """"ik denk dat de hond de bal pakt." / "*ik denk dat de hond pakt de bal."."""
    matrix = rng.choice(MATRICES)
    s, agr = subject(rng, pronoun_rate=0.25)
    verb = rng.choice(TRANSITIVE)
    o = rich_np(rng, objects_of(verb), rng.randrange(2))
    good = [*matrix, *s, *o, form(verb, agr), "."]
    verb_at = len(matrix) + len(s) + len(o)
    return good, move(good, verb_at, verb_at + 1, len(matrix) + len(s))


def pair_verb_second(rng: random.Random) -> tuple[Words, Words]:
    """"vandaag pakt het meisje de bal." / "*vandaag het meisje pakt de bal."."""
    front = rng.choice(FRONTED_FOR_PAIRS)
    num = rng.randrange(2)
    s = rich_np(rng, AGENTS, num)
    verb, rest = verb_phrase(rng)
    good = [front, form(verb, agr_of(num)), *s, *rest, "."]
    return good, move(good, 1, 2, 1 + len(s))


def pair_numeral_noun(rng: random.Random) -> tuple[Words, Words]:
    """"ik zie twee honden." / "*ik zie twee hond."; "wij hebben een boek." / "*... een boeken"."""
    num = rng.randrange(2)
    noun = rng.choice(NOUNS)
    np_ = noun_phrase(rng, noun, num, rng.choice(NUMERALS) if num else "een", 0.8)
    if rng.random() < 0.85:
        s, agr = subject(rng, pronoun_rate=0.3)
        verb = rng.choice(COUNTING_VERBS)
        prefix, suffix = [*s, form(verb, agr)], ["."]
    else:
        prefix, suffix = ["kijk,"], ["!"]
    good = [*prefix, *np_, *suffix]
    return good, replace(good, len(prefix) + len(np_) - 1, noun[1 - num])


def pair_demonstrative_gender(rng: random.Random) -> tuple[Words, Words]:
    """"dit grote huis is mooi." / "*deze grote huis is mooi."; "ik zie die hond." / "*dat hond"."""
    noun = rng.choice(NOUNS)
    np_ = noun_phrase(rng, noun, 0, rng.choice(DEMONSTRATIVES[noun[2]]), 1.0)
    if rng.random() < 0.3:
        good = [*np_, "is", rng.choice(predicates_of(noun)), "."]
        at = 0
    else:
        s, agr = subject(rng, pronoun_rate=0.3)
        good = [*s, form(rng.choice(ANY_OBJECT_VERBS), agr), *np_, "."]
        at = len(good) - len(np_) - 1
    return good, replace(good, at, GENDER_FLIP[good[at]])


PARADIGMS = (
    Paradigm("subject_verb_agreement", "morphology", "subject_verb_agreement", pair_agreement),
    Paradigm("agreement_across_pp", "morphology", "subject_verb_agreement", pair_agreement_across_pp),
    Paradigm("determiner_gender_de_het", "morphology", "determiner_noun_agreement", pair_determiner_gender),
    Paradigm("adjective_inflection", "morphology", "adjective_agreement", pair_adjective_inflection),
    Paradigm("subordinate_verb_final", "syntax", "word_order", pair_subordinate_verb_final, reorders=True),
    Paradigm("verb_second", "syntax", "word_order", pair_verb_second, reorders=True),
    Paradigm("numeral_noun_agreement", "morphology", "determiner_noun_agreement", pair_numeral_noun),
    Paradigm("demonstrative_gender", "morphology", "determiner_noun_agreement", pair_demonstrative_gender),
)
