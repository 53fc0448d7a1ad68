"""English child-directed speech: a small lexicon, utterance templates, minimal-pair paradigms.

Register: lower case, the final mark attached to the last word ("where is the ball?"), as
cleaned CHILDES transcripts look. The lexicon is small on purpose (63 nouns, 37 verbs, 16
adjectives) so a tiny model sees every agreement pattern many times in a 2M-word demo.

Grammar notes that the minimal pairs rely on:
* subject-verb agreement holds on ``is/are``, ``was/were``, ``does/do`` and ``-s`` presents,
  also across a prepositional phrase whose noun has the other number ("the dog near the cats is");
* ``this/that`` take singular nouns, ``these/those`` plural ones;
* ``a`` before a consonant, ``an`` before a vowel (every word here starts the way it sounds);
* reflexives agree with the subject: boys -> himself, girls -> herself, animals -> itself;
* irregular pasts are never regularised; adjectives precede their noun.
"""

from __future__ import annotations

import random

from .common import Paradigm, Words, expand, render_spaced, replace, split_pairs, swap

CODE = "eng"
render = render_spaced

ANIMALS = split_pairs(
    "dog dogs, cat cats, bird birds, duck ducks, cow cows, horse horses, pig pigs, bear bears,"
    "bunny bunnies, frog frogs, mouse mice, monkey monkeys, lion lions, elephant elephants, owl owls,"
    "ant ants, puppy puppies, kitty kitties, tiger tigers, chicken chickens"
)
MALE = split_pairs("boy boys, man men, brother brothers, grandpa grandpas, prince princes")
FEMALE = split_pairs("girl girls, woman women, sister sisters, grandma grandmas, princess princesses")
NEUTRAL_PEOPLE = split_pairs("baby babies, child children, friend friends")
THINGS = split_pairs(
    "ball balls, book books, cup cups, car cars, truck trucks, train trains, boat boats, spoon spoons,"
    "shoe shoes, sock socks, hat hats, apple apples, banana bananas, cookie cookies, block blocks,"
    "doll dolls, box boxes, toy toys, flower flowers, egg eggs, orange oranges, umbrella umbrellas,"
    "airplane airplanes, blanket blankets, bottle bottles, chair chairs, bed beds, tree trees,"
    "house houses, table tables"
)
PLACES = split_pairs("box boxes, bed beds, chair chairs, tree trees, house houses, car cars, boat boats, table tables")
FOOD = split_pairs("apple apples, banana bananas, cookie cookies, egg eggs, orange oranges")
AGENTS = ANIMALS + MALE + FEMALE + NEUTRAL_PEOPLE
NOUNS = AGENTS + THINGS
AGENT_SET = set(AGENTS)
GENDERED = [(noun, "himself") for noun in MALE] + [(noun, "herself") for noun in FEMALE]

# Adjectives and predicates by animacy, so that toys are red and puppies are sleepy.
ANIMATE_ADJECTIVES = "big little happy sleepy funny pretty hungry old angry ugly".split()
THING_ADJECTIVES = "big little red blue green yellow soft pretty old new ugly".split()
ADJECTIVES_OF = {noun: ANIMATE_ADJECTIVES for noun in AGENTS} | {noun: THING_ADJECTIVES for noun in THINGS}
PREDICATES = "happy sleepy hungry big little funny wet dirty clean cold tired nice angry".split()
THING_PREDICATES = "big little red blue green soft wet dirty clean hot cold new old".split()

# Verb forms: base, 3rd singular, -ing, past.
INTRANSITIVE = split_pairs(
    "sleep sleeps sleeping slept, run runs running ran, jump jumps jumping jumped,"
    "play plays playing played, cry cries crying cried, sing sings singing sang,"
    "swim swims swimming swam, dance dances dancing danced, sit sits sitting sat,"
    "walk walks walking walked, laugh laughs laughing laughed, fall falls falling fell,"
    "hide hides hiding hid, climb climbs climbing climbed, eat eats eating ate"
)
TRANSITIVE = split_pairs(
    "see sees seeing saw, want wants wanting wanted, like likes liking liked, have has having had,"
    "find finds finding found, push pushes pushing pushed, throw throws throwing threw,"
    "kick kicks kicking kicked, eat eats eating ate, hold holds holding held, take takes taking took,"
    "hug hugs hugging hugged, drop drops dropping dropped, open opens opening opened,"
    "wash washes washing washed, bring brings bringing brought, catch catches catching caught,"
    "carry carries carrying carried, make makes making made, break breaks breaking broke"
)
# Stative verbs sound wrong in the progressive ("the dog is wanting the ball").
STATIVE = {"see", "want", "like", "have"}
# Verbs whose object may be a person or an animal; the others take things (food for "eat").
ANY_OBJECT = {"see", "want", "like", "have", "find", "hug", "hold", "wash", "push", "carry"}
ANY_OBJECT_VERBS = [v for v in TRANSITIVE if v[0] in ANY_OBJECT]
TRANSITIVE_PROGRESSIVE = [v for v in TRANSITIVE if v[0] not in STATIVE]
REFLEXIVE_VERBS = split_pairs(
    "wash washes washing washed, see sees seeing saw, hug hugs hugging hugged, dry dries drying dried,"
    "tickle tickles tickling tickled, cover covers covering covered"
)
# The child's over-regularisation of each irregular past: never in the corpus, the bad side of a pair.
OVERREGULARISED = {
    "slept": "sleeped", "ran": "runned", "swam": "swimmed", "sat": "sitted", "fell": "falled",
    "hid": "hided", "ate": "eated", "had": "haved", "found": "finded", "threw": "throwed",
    "held": "holded", "took": "taked", "brought": "bringed", "caught": "catched", "made": "maked",
    "broke": "breaked",
}
IRREGULAR = [v for v in INTRANSITIVE + TRANSITIVE if v[3] in OVERREGULARISED]

PRONOUNS = {"i": "1sg", "you": "2", "he": "3sg", "she": "3sg", "it": "3sg", "we": "pl", "they": "pl"}
PRONOUN_LIST = list(PRONOUNS)
REFLEXIVE_OF_PRONOUN = {
    "i": "myself", "you": "yourself", "he": "himself", "she": "herself", "it": "itself",
    "we": "ourselves", "they": "themselves",
}
BE = {"1sg": "am", "2": "are", "3sg": "is", "pl": "are"}
WAS = {"1sg": "was", "2": "were", "3sg": "was", "pl": "were"}
DO = {"1sg": "do", "2": "do", "3sg": "does", "pl": "do"}
# Singular <-> plural form of every agreeing word: the bad side of an agreement pair.
NUMBER_FLIP = {"is": "are", "are": "is", "was": "were", "were": "was", "does": "do", "do": "does"}

SG_DETS = expand([("the", 10), ("a", 5), ("this", 2), ("that", 2), ("my", 2), ("your", 2)])
PL_DETS = expand([
    ("the", 10), ("these", 2), ("those", 2), ("my", 2), ("your", 2), ("two", 2), ("three", 1), ("some", 1),
])
DEMONSTRATIVES = (("this", "that"), ("these", "those"))
LOCATIVE = ["in", "on", "under", "near", "behind", "next to"]
ATTRACTOR_PREPS = ["near", "with", "behind", "next to", "on", "under"]
PAST_TIMES = ["yesterday", "last night", "this morning"]
REFLEXIVE_TAILS = [[], ["again"], ["now"], ["in", "the", "mirror"], ["all", "day"]]
FIXED = [
    ["uh", "oh", "!"], ["good", "job", "!"], ["all", "done", "!"], ["come", "here", "!"], ["look", "!"],
    ["be", "careful", "!"], ["thank", "you", "!"], ["night", "night", "!"], ["oh", "no", "!"], ["yay", "!"],
]
COMMANDS = [v for v in TRANSITIVE if v[0] not in STATIVE | {"make", "break"}]


def article(next_word: str) -> str:
    """"an" before a vowel-initial word, else "a"."""
    return "an" if next_word[0] in "aeiou" else "a"


def agr_of(num: int) -> str:
    """Agreement class of a noun phrase of number ``num`` (0 singular, 1 plural)."""
    return "pl" if num else "3sg"


def present(verb: tuple[str, ...], agr: str) -> str:
    """Present tense of ``verb`` for an agreement class: "sleeps" for 3sg, "sleep" otherwise."""
    return verb[1] if agr == "3sg" else verb[0]


def noun_phrase(rng: random.Random, noun: tuple[str, str], num: int, det: str | None = None,
                adj_rate: float = 0.3) -> Words:
    """Determiner (drawn when not given), an optional adjective, the noun in number ``num``."""
    det = det or rng.choice(PL_DETS if num else SG_DETS)
    words = [rng.choice(ADJECTIVES_OF[noun])] if rng.random() < adj_rate else []
    words.append(noun[num])
    if det in ("a", "an"):
        det = article(words[0])
    return [det, *words]


def subject(rng: random.Random, nouns: list = AGENTS, pronoun_rate: float = 0.2) -> tuple[Words, str]:
    """A subject and its agreement class (``1sg``, ``2``, ``3sg``, ``pl``)."""
    if rng.random() < pronoun_rate:
        pronoun = rng.choice(PRONOUN_LIST)
        return [pronoun], PRONOUNS[pronoun]
    num = rng.randrange(2)
    return noun_phrase(rng, rng.choice(nouns), num), agr_of(num)


def obj(rng: random.Random, nouns: list = NOUNS) -> Words:
    """An object noun phrase from ``nouns``, plural 40% of the time."""
    return noun_phrase(rng, rng.choice(nouns), int(rng.random() < 0.4))


def objects_of(verb: tuple[str, ...]) -> list:
    """The nouns a verb takes as object: food is eaten, anything is seen, toys are thrown."""
    if verb[0] == "eat":
        return FOOD
    return NOUNS if verb[0] in ANY_OBJECT else THINGS


def verb_object(rng: random.Random, verbs: list = TRANSITIVE) -> tuple[tuple[str, ...], Words]:
    """A transitive verb and an object it can take: ("eat", ["an", "apple"])."""
    verb = rng.choice(verbs)
    return verb, obj(rng, objects_of(verb))


def place(rng: random.Random) -> Words:
    """A locative PP: "in the box", "under my bed"."""
    det = rng.choice(("the", "the", "my", "your"))
    return [rng.choice(LOCATIVE), *noun_phrase(rng, rng.choice(PLACES), int(rng.random() < 0.2), det, 0.2)]


def attractor(rng: random.Random, num: int) -> Words:
    """A PP after the subject noun, its own noun of number ``num`` ("near the cats")."""
    return [rng.choice(ATTRACTOR_PREPS), *noun_phrase(rng, rng.choice(NOUNS), num, "the", 0.2)]


# ---- declaratives ------------------------------------------------------------------------


def progressive(rng: random.Random) -> Words:
    """E.g. "the dog is sleeping in the box.", "we are pushing the trucks."."""
    s, agr = subject(rng)
    if rng.random() < 0.5:
        tail = place(rng) if rng.random() < 0.3 else []
        return [*s, BE[agr], rng.choice(INTRANSITIVE)[2], *tail, "."]
    verb, o = verb_object(rng, TRANSITIVE_PROGRESSIVE)
    return [*s, BE[agr], verb[2], *o, "."]


def simple_present(rng: random.Random) -> Words:
    """E.g. "the cat sleeps every day.", "my brothers like the red ball."."""
    s, agr = subject(rng)
    if rng.random() < 0.4:
        tail = rng.choice((["a", "lot"], ["every", "day"], [], place(rng)))
        return [*s, present(rng.choice(INTRANSITIVE), agr), *tail, "."]
    verb, o = verb_object(rng)
    return [*s, present(verb, agr), *o, "."]


def copula(rng: random.Random) -> Words:
    """E.g. "the dogs are hungry.", "the baby was in the bed."."""
    s, agr = subject(rng)
    be = WAS[agr] if rng.random() < 0.25 else BE[agr]
    tail = place(rng) if rng.random() < 0.25 else [rng.choice(PREDICATES)]
    return [*s, be, *tail, "."]


def predicate(rng: random.Random, agr: str) -> Words:
    """What follows a 3rd-person subject: "is hungry", "are sleeping", "likes the ball"."""
    roll = rng.random()
    if roll < 0.35:
        return [BE[agr], rng.choice(PREDICATES)]
    if roll < 0.7:
        return [BE[agr], rng.choice(INTRANSITIVE)[2]]
    verb, o = verb_object(rng)
    return [present(verb, agr), *o]


def across_pp(rng: random.Random) -> Words:
    """Subject noun, a PP with its own noun, then the verb agreeing with the subject noun."""
    num = rng.randrange(2)
    head = noun_phrase(rng, rng.choice(AGENTS), num, rng.choice(("the", "the", "my")))
    return [*head, *attractor(rng, rng.randrange(2)), *predicate(rng, agr_of(num)), "."]


def past(rng: random.Random) -> Words:
    """E.g. "yesterday the dog ate an apple.", "the boys jumped."."""
    s, _ = subject(rng)
    if rng.random() < 0.5:
        vp = [rng.choice(INTRANSITIVE)[3]]
    else:
        verb, o = verb_object(rng)
        vp = [verb[3], *o]
    roll = rng.random()
    if roll < 0.4:
        return [rng.choice(PAST_TIMES), *s, *vp, "."]
    if roll < 0.6:
        return [*s, *vp, rng.choice(PAST_TIMES), "."]
    return [*s, *vp, "."]


def reflexive_subject(rng: random.Random) -> tuple[Words, str, str]:
    """A subject that binds a reflexive: (words, agreement, reflexive)."""
    roll = rng.random()
    if roll < 0.15:
        pronoun = rng.choice(PRONOUN_LIST)
        return [pronoun], PRONOUNS[pronoun], REFLEXIVE_OF_PRONOUN[pronoun]
    if roll < 0.8:
        noun, self_word = rng.choice(GENDERED)
        return noun_phrase(rng, noun, 0, rng.choice(("the", "the", "my"))), "3sg", self_word
    if roll < 0.9:
        return noun_phrase(rng, rng.choice(ANIMALS), 0, "the"), "3sg", "itself"
    return noun_phrase(rng, rng.choice(AGENTS), 1, "the"), "pl", "themselves"


def reflexive_predicate(rng: random.Random, agr: str, self_word: str) -> Words:
    """"is washing herself again", "sees himself in the mirror", "dried itself"."""
    verb = rng.choice(REFLEXIVE_VERBS)
    roll = rng.random()
    if roll < 0.4:
        head = [BE[agr], verb[2]]
    elif roll < 0.7:
        head = [present(verb, agr)]
    else:
        head = [verb[3]]
    return [*head, self_word, *rng.choice(REFLEXIVE_TAILS)]


def reflexive(rng: random.Random) -> Words:
    """E.g. "the girl is washing herself.", "the boys dried themselves."."""
    s, agr, self_word = reflexive_subject(rng)
    return [*s, *reflexive_predicate(rng, agr, self_word), "."]


def there_is(rng: random.Random) -> Words:
    """E.g. "there is an egg in the box.", "there are two dogs."."""
    tail = place(rng) if rng.random() < 0.6 else []
    if rng.random() < 0.5:
        return ["there", "is", *noun_phrase(rng, rng.choice(NOUNS), 0, "a", 0.4), *tail, "."]
    det = rng.choice(("two", "three", "four", "some"))
    return ["there", "are", *noun_phrase(rng, rng.choice(NOUNS), 1, det, 0.4), *tail, "."]


def demonstrative(rng: random.Random) -> Words:
    """"this is an apple.", "these are my shoes.", "that ball is red.", "i like these books."."""
    num = rng.randrange(2)
    dem = rng.choice(DEMONSTRATIVES[num])
    noun = rng.choice(NOUNS)
    roll = rng.random()
    if roll < 0.4:
        det = rng.choice(("a", "my", "your")) if num == 0 else rng.choice(("my", "your", "the"))
        return [dem, BE[agr_of(num)], *noun_phrase(rng, noun, num, det, 0.4), "."]
    if roll < 0.7:
        predicates = PREDICATES if noun in AGENT_SET else THING_PREDICATES
        return [*noun_phrase(rng, noun, num, dem), BE[agr_of(num)], rng.choice(predicates), "."]
    s, agr = subject(rng, pronoun_rate=0.7)
    return [*s, present(rng.choice(ANY_OBJECT_VERBS), agr), *noun_phrase(rng, noun, num, dem), "."]


# ---- questions ----------------------------------------------------------------------------


def where(rng: random.Random) -> Words:
    """E.g. "where is the ball?", "where are my shoes?"."""
    num = rng.randrange(2)
    det = rng.choice(("the", "the", "my", "your"))
    return ["where", BE[agr_of(num)], *noun_phrase(rng, rng.choice(NOUNS), num, det, 0.3), "?"]


def yes_no(rng: random.Random) -> Words:
    """E.g. "is the baby sleeping?", "does the cat like apples?"."""
    s, agr = subject(rng, pronoun_rate=0.25)
    roll = rng.random()
    if roll < 0.35:
        return [BE[agr], *s, rng.choice(INTRANSITIVE)[2], "?"]
    if roll < 0.55:
        return [BE[agr], *s, rng.choice(PREDICATES), "?"]
    if roll < 0.7:
        return [BE[agr], *s, *place(rng), "?"]
    verb, o = verb_object(rng)
    return [DO[agr], *s, verb[0], *o, "?"]


def wh_question(rng: random.Random) -> Words:
    """E.g. "what is the dog eating?", "who is crying?"."""
    s, agr = subject(rng, pronoun_rate=0.25)
    roll = rng.random()
    if roll < 0.4:
        return ["what", BE[agr], *s, rng.choice(TRANSITIVE_PROGRESSIVE)[2], "?"]
    if roll < 0.6:
        return ["what", BE[agr], *s, "doing", "?"]
    if roll < 0.8:
        return ["what", DO[agr], *s, rng.choice(("want", "like", "see", "have")), "?"]
    return ["who", "is", rng.choice(INTRANSITIVE)[2], "?"]


def little_question(rng: random.Random) -> Words:
    """E.g. "do you want a cookie?", "what are these?"."""
    roll = rng.random()
    if roll < 0.3:
        return ["do", "you", "want", *noun_phrase(rng, rng.choice(THINGS), 0, "a"), "?"]
    if roll < 0.55:
        return ["can", "you", rng.choice(("find", "see", "hold")), *obj(rng), "?"]
    if roll < 0.75:
        num = rng.randrange(2)
        return [BE[agr_of(num)], DEMONSTRATIVES[num][0], *noun_phrase(rng, rng.choice(NOUNS), num, "your", 0.2), "?"]
    num = rng.randrange(2)
    return ["what", BE[agr_of(num)], rng.choice(DEMONSTRATIVES[num]), "?"]


# ---- imperatives --------------------------------------------------------------------------


def look(rng: random.Random) -> Words:
    """E.g. "look at the big dog!", "oh look, two birds!"."""
    num = rng.randrange(2)
    noun = rng.choice(NOUNS)
    if rng.random() < 0.7:
        det = rng.choice(("the", "the", "a", "this", "that", "my", "your") if num == 0 else
                         ("the", "the", "these", "those", "my", "your", "two"))
        return ["look", "at", *noun_phrase(rng, noun, num, det, 0.4), "!"]
    det = "a" if num == 0 else rng.choice(("two", "three", "some"))
    return [rng.choice(("look,", "oh", "oh look,")), *noun_phrase(rng, noun, num, det, 0.4), "!"]


def command(rng: random.Random) -> Words:
    """E.g. "throw the ball!", "give me the cup!", "don't push the cat!"."""
    roll = rng.random()
    if roll < 0.45:
        verb, o = verb_object(rng, COMMANDS)
        return [verb[0], *o, "!"]
    if roll < 0.65:
        return ["give", "me", *obj(rng, THINGS), "!"]
    if roll < 0.85:
        return ["let's", rng.choice(("find", "wash", "push", "hold")), *obj(rng), "!"]
    verb, o = verb_object(rng, COMMANDS)
    return ["don't", verb[0], *o, "!"]


def fixed(rng: random.Random) -> Words:
    """A routine: "uh oh!", "good job!"."""
    return list(rng.choice(FIXED))


TEMPLATES = expand([
    (progressive, 12), (simple_present, 12), (copula, 8), (across_pp, 18), (past, 10), (reflexive, 10),
    (there_is, 5), (demonstrative, 8), (where, 5), (yes_no, 8), (wh_question, 5), (little_question, 4),
    (look, 8), (command, 6), (fixed, 2),
])


def sentence(rng: random.Random) -> Words:
    """One utterance of the corpus, drawn from the weighted templates above."""
    return rng.choice(TEMPLATES)(rng)


# ---- minimal pairs ------------------------------------------------------------------------
# Pair sentences carry more modifiers than the average corpus line so that most of them are
# new to a model trained on the corpus, while every word and pattern in them is familiar.


def rich_np(rng: random.Random, nouns: list, num: int, det: str | None = None) -> Words:
    """A noun phrase with an adjective most of the time: "my sleepy puppies"."""
    return noun_phrase(rng, rng.choice(nouns), num, det or rng.choice(("the", "the", "my", "your")), 0.7)


def pair_agreement_simple(rng: random.Random) -> tuple[Words, Words]:
    """"the big dog is sleeping." / "*the big dog are sleeping." (and -s presents, copulas)."""
    num = rng.randrange(2)
    s, agr = rich_np(rng, AGENTS, num), agr_of(num)
    roll = rng.random()
    if roll < 0.4:
        good = [*s, BE[agr], rng.choice(INTRANSITIVE)[2], *place(rng), "."]
        return good, replace(good, len(s), NUMBER_FLIP[good[len(s)]])
    if roll < 0.7:
        verb = rng.choice(TRANSITIVE)
        good = [*s, present(verb, agr), *rich_np(rng, objects_of(verb), rng.randrange(2)), "."]
        return good, replace(good, len(s), present(verb, agr_of(1 - num)))
    good = [*s, WAS[agr] if rng.random() < 0.3 else BE[agr], rng.choice(PREDICATES), "."]
    return good, replace(good, len(s), NUMBER_FLIP[good[len(s)]])


def pair_agreement_across_pp(rng: random.Random) -> tuple[Words, Words]:
    """"the dog near the cats is hungry." / "*... are hungry." (the PP noun has the other number)."""
    num = rng.randrange(2)
    head = noun_phrase(rng, rng.choice(AGENTS), num, "the", 0.4)
    pp = attractor(rng, 1 - num)
    verb_at = len(head) + len(pp)
    if rng.random() < 0.6:
        good = [*head, *pp, BE[agr_of(num)], rng.choice(PREDICATES + [v[2] for v in INTRANSITIVE]), "."]
        return good, replace(good, verb_at, NUMBER_FLIP[good[verb_at]])
    verb, o = verb_object(rng)
    good = [*head, *pp, present(verb, agr_of(num)), *o, "."]
    return good, replace(good, verb_at, present(verb, agr_of(1 - num)))


def pair_determiner_noun(rng: random.Random) -> tuple[Words, Words]:
    """"look at these red balls!" / "*look at these red ball!"."""
    num = rng.randrange(2)
    noun = rng.choice(NOUNS)
    np_ = noun_phrase(rng, noun, num, rng.choice(DEMONSTRATIVES[num]), 1.0)
    roll = rng.random()
    if roll < 0.2:
        prefix = ["look", "at"]
    elif roll < 0.75:
        s, agr = subject(rng, pronoun_rate=0.6)
        prefix = [*s, present(rng.choice(ANY_OBJECT_VERBS), agr)]
    else:
        prefix = ["can", "you", rng.choice(("find", "see", "hold"))]
    good = [*prefix, *np_, "!" if prefix[0] == "look" else "?" if prefix[0] == "can" else "."]
    return good, replace(good, len(prefix) + len(np_) - 1, noun[1 - num])


def pair_anaphor_gender(rng: random.Random) -> tuple[Words, Words]:
    """"the little girl is washing herself again." / "*the little girl is washing himself again."."""
    noun, self_word = rng.choice(GENDERED)
    s = noun_phrase(rng, noun, 0, rng.choice(("the", "my", "your")), 1.0)
    good = [*s, *reflexive_predicate(rng, "3sg", self_word), "."]
    other = "herself" if self_word == "himself" else "himself"
    return good, replace(good, good.index(self_word), other)


def pair_irregular_past(rng: random.Random) -> tuple[Words, Words]:
    """"yesterday the dog ate an apple." / "*yesterday the dog eated an apple."."""
    verb = rng.choice(IRREGULAR)
    s = rich_np(rng, AGENTS, rng.randrange(2))
    rest = obj(rng, objects_of(verb)) if verb in TRANSITIVE else []
    good = [rng.choice(PAST_TIMES), *s, verb[3], *rest, "."]
    return good, replace(good, 1 + len(s), OVERREGULARISED[verb[3]])


def pair_question_aux(rng: random.Random) -> tuple[Words, Words]:
    """"are my happy brothers climbing?" / "*is my happy brothers climbing?"; "where is ...?"."""
    num = rng.randrange(2)
    roll = rng.random()
    if roll < 0.15:
        good = ["where", BE[agr_of(num)], *noun_phrase(rng, rng.choice(NOUNS), num, "the", 1.0), "?"]
    elif roll < 0.45:
        good = [BE[agr_of(num)], *rich_np(rng, AGENTS, num), rng.choice(INTRANSITIVE)[2], "?"]
    elif roll < 0.65:
        good = [BE[agr_of(num)], *rich_np(rng, AGENTS, num), *place(rng), "?"]
    else:
        verb, o = verb_object(rng)
        good = [DO[agr_of(num)], *rich_np(rng, AGENTS, num), verb[0], *o, "?"]
    aux_at = 1 if good[0] == "where" else 0
    return good, replace(good, aux_at, NUMBER_FLIP[good[aux_at]])


def pair_indefinite_article(rng: random.Random) -> tuple[Words, Words]:
    """"look at an old dog!" / "*look at a old dog!"; "there is a big apple." / "*an big apple"."""
    vowel = rng.randrange(2)
    noun = rng.choice(NOUNS)
    adjectives = [a for a in ADJECTIVES_OF[noun] if (a[0] in "aeiou") == bool(vowel)]
    np_ = [rng.choice(adjectives), noun[0]]
    roll = rng.random()
    if roll < 0.3 and vowel == (noun[0][0] in "aeiou"):
        # The article right before the noun: a longer frame keeps the sentence rare in the corpus.
        np_ = [noun[0]]
        prefix, suffix = ["there", "is"], [*place(rng), "."]
    elif roll < 0.45:
        prefix, suffix = ["look", "at"], ["!"]
    elif roll < 0.65:
        prefix, suffix = ["there", "is"], [*place(rng), "."]
    elif roll < 0.8:
        prefix, suffix = [rng.choice(("this", "that")), "is"], ["."]
    else:
        s, agr = subject(rng, pronoun_rate=0.5)
        prefix, suffix = [*s, present(rng.choice(ANY_OBJECT_VERBS), agr)], ["."]
    good = [*prefix, "an" if vowel else "a", *np_, *suffix]
    return good, replace(good, len(prefix), "a" if vowel else "an")


def pair_adjective_order(rng: random.Random) -> tuple[Words, Words]:
    """"the big dog is sleeping." / "*the dog big is sleeping."."""
    num = rng.randrange(2)
    det = rng.choice(("the", "my", "your", "these" if num else "this"))
    noun = rng.choice(AGENTS if rng.random() < 0.5 else NOUNS)
    np_ = [det, rng.choice(ADJECTIVES_OF[noun]), noun[num]]
    if noun in AGENT_SET:
        good = [*np_, *predicate(rng, agr_of(num)), "."]
        return good, swap(good, 1, 2)
    good = ["look", "at", *np_, "!"]
    return good, swap(good, 3, 4)


PARADIGMS = (
    Paradigm("subject_verb_agreement", "morphology", "subject_verb_agreement", pair_agreement_simple),
    Paradigm("agreement_across_pp", "morphology", "subject_verb_agreement", pair_agreement_across_pp),
    Paradigm("determiner_noun_agreement", "morphology", "determiner_noun_agreement", pair_determiner_noun),
    Paradigm("anaphor_gender_agreement", "morphology", "anaphor_agreement", pair_anaphor_gender),
    Paradigm("irregular_past_tense", "morphology", "irregular_forms", pair_irregular_past),
    Paradigm("question_aux_agreement", "morphology", "subject_verb_agreement", pair_question_aux),
    Paradigm("indefinite_article", "morphology", "determiner_noun_agreement", pair_indefinite_article),
    Paradigm("adjective_noun_order", "syntax", "word_order", pair_adjective_order, reorders=True),
)
