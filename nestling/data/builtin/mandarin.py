"""Mandarin (simplified) child-directed speech: lexicon, utterance templates, minimal-pair paradigms.

Text is natural and unspaced ("小猫在睡觉。"); words are kept apart inside the generator only, so
that a minimal pair can swap or replace one of them.

Grammar notes that the minimal pairs rely on:
* a numeral or demonstrative takes the noun's own classifier (一只猫, 一本书, 那辆汽车);
* basic order is subject-verb-object; the object precedes the verb only after 把, and then the
  verb carries a result or 了 (宝宝把苹果吃了);
* the aspect markers 了 and 过 follow the verb (吃了一个苹果, 看过这本书);
* 没 negates completed events with 过 but never with a verbal 了 (没吃过鱼, *没吃了鱼);
* 有 is negated by 没 only (没有球, *不有球);
* an A-not-A question (要不要, 是不是) may end in 呢 but never in 吗.
"""

from __future__ import annotations

import random

from .common import Paradigm, Words, expand, move, render_unspaced, replace, split_pairs, swap

CODE = "zho"
render = render_unspaced

ANIMALS = split_pairs(
    "小狗 只, 小猫 只, 小鸟 只, 小鸭子 只, 小兔子 只, 小熊 只, 小猴子 只, 小老鼠 只, 小青蛙 只, 小鸡 只,"
    "老虎 只, 大象 头, 牛 头, 猪 头, 马 匹, 小鱼 条, 蛇 条"
)
PEOPLE = split_pairs("小朋友 个, 男孩 个, 女孩 个, 宝宝 个")
THINGS = split_pairs(
    "苹果 个, 球 个, 杯子 个, 盒子 个, 鸡蛋 个, 橘子 个, 娃娃 个, 气球 个, 书 本, 故事书 本, 汽车 辆,"
    "卡车 辆, 自行车 辆, 公交车 辆, 床 张, 桌子 张, 纸 张, 照片 张, 鞋 双, 袜子 双, 衣服 件, 毛衣 件,"
    "花 朵, 树 棵, 蛋糕 块, 饼干 块, 积木 块, 香蕉 根, 铅笔 支, 裤子 条, 毛巾 条, 帽子 顶"
)
FOOD = split_pairs("苹果 个, 鸡蛋 个, 橘子 个, 蛋糕 块, 饼干 块, 香蕉 根, 小鱼 条")
AGENTS = ANIMALS + PEOPLE
NOUNS = AGENTS + THINGS
AGENT_SET = set(AGENTS)
KIN = "妈妈 爸爸 哥哥 姐姐 弟弟 妹妹 奶奶 爷爷 老师".split()
PRONOUNS = "我 你 他 她 我们 你们 他们".split()
NUMERALS = "一 两 三 四 五".split()
DEMONSTRATIVES = ["这", "那"]
# Attributes and predicates by animacy, so that toys are red and kittens are hungry.
ANIMATE_ATTRIBUTES = "可爱的 大大的 小小的 漂亮的 干净的 软软的".split()
THING_ATTRIBUTES = "红色的 蓝色的 黄色的 大大的 小小的 漂亮的 新的 软软的 干净的".split()
ATTRIBUTES_OF = {noun: ANIMATE_ATTRIBUTES for noun in AGENTS} | {noun: THING_ATTRIBUTES for noun in THINGS}
ADJECTIVES = "饿 累 高兴 漂亮 可爱 干净 脏 大 小 困 开心 乖".split()
THING_ADJECTIVES = "大 小 漂亮 干净 脏 新 软".split()
DEGREE = ["很", "真", "好"]

# Single verbs that take an object and the aspect markers 了/过.
TRANSITIVE = "看 吃 拿 找 抱 推 扔 踢 洗 买 画 捡".split()
LIKING = ["喜欢", "要"]
# Verbs whose object may be a person or an animal; the others take things (food for 吃).
ANY_OBJECT = {"看", "找", "抱", "推", "洗", "画"}
INTRANSITIVE = "睡觉 跑步 跳舞 唱歌 游泳 洗澡 吃饭 哭 笑 玩 跑 跳 走路".split()
# Verb (+ result) after 把 + object, always followed by 了 in a statement.
BA_VERBS = "吃 洗 扔 拿走 找到 放好 收好 弄脏 踢走 推倒 打开 擦干净".split()
# A-not-A forms that take a noun object, and those that take a verb phrase.
ANOTB_OBJECT = ["要不要", "喜欢不喜欢", "有没有", "吃不吃", "看不看"]
ANOTB_VERB = ["想不想", "要不要"]
POSSESSORS = ["宝宝", "妈妈", "爸爸", "我", "你", "小狗", "姐姐"]
FIXED = [[word, "！"] for word in "好棒 哎呀 真乖 谢谢 再见 晚安 小心 来".split()]

# Classifiers that are plainly wrong for an animal, and for anything else; MAYBE_OK removes the
# few that a speaker could accept for a particular noun (一只鞋 is one shoe of a pair).
WRONG_FOR_ANIMALS = ["本", "张", "辆", "件", "朵", "棵", "顶"]
WRONG_OTHERWISE = ["本", "张", "辆", "件", "朵", "棵", "顶", "头", "匹"]
MAYBE_OK = {"鞋": {"只"}, "袜子": {"只"}, "花": {"棵"}, "纸": {"本"}, "树": {"朵"}}


def adjectives_of(noun: tuple[str, str]) -> list[str]:
    """Predicate adjectives that suit the noun: animals are 饿, things 新."""
    return ADJECTIVES if noun in AGENT_SET else THING_ADJECTIVES


def objects_of(verb: str) -> list:
    """The nouns a verb takes as object: food is eaten (吃), anything is seen, toys are thrown."""
    if verb in ("吃", "吃不吃"):
        return FOOD
    return NOUNS if verb in ANY_OBJECT or verb in LIKING or verb in ANOTB_OBJECT else THINGS


def verb_for(rng: random.Random, noun: tuple[str, str]) -> str:
    """A transitive verb that can take ``noun`` as its object."""
    return rng.choice([v for v in TRANSITIVE if noun in objects_of(v)])


def wrong_classifier(rng: random.Random, noun: tuple[str, str]) -> str:
    """A classifier that no speaker would use with ``noun`` (the bad side of a pair)."""
    pool = WRONG_FOR_ANIMALS if noun in ANIMALS else WRONG_OTHERWISE
    return rng.choice([c for c in pool if c != noun[1] and c not in MAYBE_OK.get(noun[0], ())])


def quantified(rng: random.Random, noun: tuple[str, str], attr_rate: float = 0.2) -> Words:
    """Numeral, classifier, optional attribute, noun: 两只可爱的小猫."""
    attr = [rng.choice(ATTRIBUTES_OF[noun])] if rng.random() < attr_rate else []
    return [rng.choice(NUMERALS), noun[1], *attr, noun[0]]


def demonstrated(rng: random.Random, noun: tuple[str, str], attr_rate: float = 0.2) -> Words:
    """Demonstrative, classifier, optional attribute, noun: 那辆红色的汽车."""
    attr = [rng.choice(ATTRIBUTES_OF[noun])] if rng.random() < attr_rate else []
    return [rng.choice(DEMONSTRATIVES), noun[1], *attr, noun[0]]


def bare(rng: random.Random, noun: tuple[str, str], attr_rate: float = 0.25) -> Words:
    """A noun without numeral or demonstrative, sometimes with an attribute: 红色的球."""
    return [rng.choice(ATTRIBUTES_OF[noun]), noun[0]] if rng.random() < attr_rate else [noun[0]]


def obj(rng: random.Random, nouns: list = NOUNS) -> Words:
    """An object: bare, counted (两个苹果) or demonstrated (那本书)."""
    noun = rng.choice(nouns)
    roll = rng.random()
    if roll < 0.4:
        return bare(rng, noun)
    return quantified(rng, noun) if roll < 0.7 else demonstrated(rng, noun)


def counted_obj(rng: random.Random, nouns: list = NOUNS) -> Words:
    """An object with a numeral or demonstrative, as a completed event wants (吃了一个苹果)."""
    noun = rng.choice(nouns)
    return quantified(rng, noun) if rng.random() < 0.6 else demonstrated(rng, noun)


def definite_obj(rng: random.Random, nouns: list = NOUNS) -> Words:
    """A specific object, as 把 wants: 那个球, 红色的球, 球."""
    noun = rng.choice(nouns)
    return demonstrated(rng, noun) if rng.random() < 0.5 else bare(rng, noun, 0.3)


def subject(rng: random.Random) -> Words:
    """A pronoun, a kinship term, an animal or child, 那只小猫, or 宝宝的小狗."""
    roll = rng.random()
    if roll < 0.2:
        return [rng.choice(PRONOUNS)]
    if roll < 0.45:
        return [rng.choice(KIN)]
    if roll < 0.75:
        return bare(rng, rng.choice(AGENTS), 0.15)
    if roll < 0.92:
        return demonstrated(rng, rng.choice(AGENTS))
    return [rng.choice(POSSESSORS), "的", rng.choice(ANIMALS)[0]]


def rich_subject(rng: random.Random) -> Words:
    """A subject with a modifier, for pair sentences: 那只可爱的小猫, 姐姐的小狗."""
    if rng.random() < 0.3:
        return [rng.choice(POSSESSORS), "的", rng.choice(ANIMALS)[0]]
    return demonstrated(rng, rng.choice(AGENTS), 0.6)


# ---- declaratives ------------------------------------------------------------------------


def progressive(rng: random.Random) -> Words:
    """小猫在睡觉。 / 妈妈在洗衣服。"""
    s = subject(rng)
    if rng.random() < 0.5:
        end = ["呢", "。"] if rng.random() < 0.2 else ["。"]
        return [*s, rng.choice(("在", "正在")), rng.choice(INTRANSITIVE), *end]
    verb = rng.choice(TRANSITIVE)
    return [*s, "在", verb, *obj(rng, objects_of(verb)), "。"]


def description(rng: random.Random) -> Words:
    """小狗很饿。 / 宝宝不困。"""
    s = subject(rng)
    degree = rng.choice(DEGREE) if rng.random() < 0.8 else "不"
    return [*s, degree, rng.choice(ADJECTIVES), "。"]


def liking(rng: random.Random) -> Words:
    """宝宝喜欢小狗。 / 我想吃苹果。"""
    s = subject(rng)
    roll = rng.random()
    if roll < 0.45:
        neg = ["不"] if rng.random() < 0.25 else []
        return [*s, *neg, rng.choice(LIKING), *obj(rng), "。"]
    if roll < 0.75:
        verb = rng.choice(TRANSITIVE)
        return [*s, "想", verb, *obj(rng, objects_of(verb)), "。"]
    return [*s, rng.choice(("想", "不想")), rng.choice(INTRANSITIVE), "。"]


def perfective(rng: random.Random) -> Words:
    """小猫吃了一条鱼。"""
    s = subject(rng)
    adverb = [rng.choice(("已经", "刚"))] if rng.random() < 0.3 else []
    verb = rng.choice(TRANSITIVE)
    return [*s, *adverb, verb, "了", *counted_obj(rng, objects_of(verb)), "。"]


def experiential(rng: random.Random) -> Words:
    """宝宝看过这本书。 / 小狗没吃过香蕉。"""
    s = subject(rng)
    neg = ["没"] if rng.random() < 0.4 else []
    verb = rng.choice(TRANSITIVE)
    noun = rng.choice(objects_of(verb))
    o = demonstrated(rng, noun) if rng.random() < 0.5 else bare(rng, noun)
    return [*s, *neg, verb, "过", *o, "。"]


def negation(rng: random.Random) -> Words:
    """小猫没吃鱼。 / 小狗不吃苹果。"""
    s = subject(rng)
    roll = rng.random()
    if roll < 0.4:
        verb = rng.choice(TRANSITIVE)
        return [*s, "没", verb, *bare(rng, rng.choice(objects_of(verb))), "。"]
    if roll < 0.6:
        return [*s, "没", rng.choice(INTRANSITIVE), "。"]
    verb = rng.choice(TRANSITIVE)
    return [*s, "不", verb, *bare(rng, rng.choice(objects_of(verb))), "。"]


def possession(rng: random.Random) -> Words:
    """我有两个球。 / 这里没有小狗。"""
    roll = rng.random()
    if roll < 0.35:
        return [*subject(rng), "有", *quantified(rng, rng.choice(NOUNS)), "。"]
    if roll < 0.65:
        return [*subject(rng), "没有", *bare(rng, rng.choice(NOUNS)), "。"]
    if roll < 0.85:
        return ["这里", "有", *quantified(rng, rng.choice(NOUNS)), "。"]
    return ["这里", "没有", *bare(rng, rng.choice(NOUNS)), "。"]


def ba(rng: random.Random) -> Words:
    """宝宝把苹果吃了。"""
    verb = rng.choice(BA_VERBS)
    return [*subject(rng), "把", *definite_obj(rng, objects_of(verb)), verb, "了", "。"]


def this_is(rng: random.Random) -> Words:
    """这是一只小狗。 / 那是妈妈的书。"""
    head = [rng.choice(("这", "那")), "是"]
    noun = rng.choice(NOUNS)
    if rng.random() < 0.7:
        return [*head, "一", noun[1], *bare(rng, noun, 0.3), "。"]
    return [*head, rng.choice(POSSESSORS), "的", noun[0], "。"]


def demonstrated_subject(rng: random.Random) -> Words:
    """这辆汽车很大。 / 那只小鸟在唱歌。"""
    noun = rng.choice(NOUNS) if rng.random() < 0.6 else rng.choice(AGENTS)
    np_ = demonstrated(rng, noun)
    if rng.random() < 0.6:
        return [*np_, rng.choice(DEGREE), rng.choice(adjectives_of(noun)), "。"]
    return [*np_, "在", rng.choice(INTRANSITIVE), "。"]


# ---- questions ----------------------------------------------------------------------------


def where(rng: random.Random) -> Words:
    """小狗在哪里？ / 球在哪里呢？"""
    s = subject(rng) if rng.random() < 0.5 else bare(rng, rng.choice(THINGS))
    return [*s, "在", "哪里", *(["呢"] if rng.random() < 0.4 else []), "？"]


def yes_no(rng: random.Random) -> Words:
    """A question with 吗."""
    roll = rng.random()
    if roll < 0.3:
        return [*subject(rng), "在", rng.choice(INTRANSITIVE), "吗", "？"]
    if roll < 0.55:
        return ["你", rng.choice(LIKING), *obj(rng), "吗", "？"]
    if roll < 0.7:
        return [*subject(rng), "很", rng.choice(ADJECTIVES), "吗", "？"]
    if roll < 0.85:
        verb = rng.choice(TRANSITIVE)
        return [*subject(rng), verb, "了", *counted_obj(rng, objects_of(verb)), "吗", "？"]
    return [*subject(rng), "有", *bare(rng, rng.choice(NOUNS)), "吗", "？"]


def a_not_a(rng: random.Random, particle: str | None = None) -> Words:
    """An A-not-A question, bare or with 呢: 你要不要苹果(呢)？ 小狗是不是在睡觉(呢)？."""
    end = [particle] if particle else (["呢"] if rng.random() < 0.5 else [])
    roll = rng.random()
    if roll < 0.3:
        s = subject(rng)
        rest = ["在", rng.choice(INTRANSITIVE)] if rng.random() < 0.6 else ["很", rng.choice(ADJECTIVES)]
        return [*s, "是不是", *rest, *end, "？"]
    s = ["你"] if rng.random() < 0.6 else subject(rng)
    if roll < 0.75:
        verb = rng.choice(ANOTB_OBJECT)
        return [*s, verb, *obj(rng, objects_of(verb)), *end, "？"]
    verb = rng.choice(TRANSITIVE)
    return [*s, rng.choice(ANOTB_VERB), verb, *obj(rng, objects_of(verb)), *end, "？"]


def wh_question(rng: random.Random) -> Words:
    """这是什么？ / 小猫在干什么呢？ / 谁在哭？"""
    end = ["呢", "？"] if rng.random() < 0.4 else ["？"]
    roll = rng.random()
    if roll < 0.25:
        return [rng.choice(("这", "那")), "是", "什么", *end]
    if roll < 0.5:
        return [*subject(rng), "在", "干什么", *end]
    if roll < 0.7:
        return ["谁", "在", rng.choice(INTRANSITIVE), "？"]
    if roll < 0.85:
        return [*subject(rng), "要", "什么", *end]
    return ["这", "是", "谁", "的", rng.choice(NOUNS)[0], *end]


# ---- imperatives --------------------------------------------------------------------------


def look(rng: random.Random) -> Words:
    """看，一只小狗！ / 快看那辆汽车！"""
    roll = rng.random()
    if roll < 0.45:
        return ["看", "，", *quantified(rng, rng.choice(NOUNS), 0.3), "！"]
    if roll < 0.8:
        return ["快", "看", *demonstrated(rng, rng.choice(NOUNS), 0.3), "！"]
    return ["看", "，", *subject(rng), "在", rng.choice(INTRANSITIVE), "！"]


def command(rng: random.Random) -> Words:
    """把球给我！ / 别哭了！ / 来，吃苹果吧！"""
    roll = rng.random()
    if roll < 0.3:
        return ["把", *definite_obj(rng, THINGS), "给", "我", "！"]
    if roll < 0.5:
        return ["别", rng.choice(INTRANSITIVE), "了", "！"]
    if roll < 0.75:
        verb = rng.choice(TRANSITIVE)
        return ["来", "，", verb, *obj(rng, objects_of(verb)), "吧", "！"]
    verb = rng.choice(TRANSITIVE)
    return ["别", verb, *bare(rng, rng.choice(objects_of(verb))), "！"]


def fixed(rng: random.Random) -> Words:
    """A routine: 好棒！ 哎呀！"""
    return list(rng.choice(FIXED))


TEMPLATES = expand([
    (progressive, 12), (description, 7), (liking, 9), (perfective, 10), (experiential, 7), (negation, 6),
    (possession, 7), (ba, 7), (this_is, 7), (demonstrated_subject, 6), (where, 4), (yes_no, 8),
    (a_not_a, 8), (wh_question, 4), (look, 6), (command, 5), (fixed, 2),
])


def sentence(rng: random.Random) -> Words:
    """One utterance of the corpus, drawn from the weighted templates above."""
    return rng.choice(TEMPLATES)(rng)


# ---- minimal pairs ------------------------------------------------------------------------


def pair_classifier(rng: random.Random) -> tuple[Words, Words]:
    """"姐姐买了两只小猫。" / "*姐姐买了两本小猫。"; "那辆汽车很大。" / "*那只汽车很大。"."""
    noun = rng.choice(NOUNS)
    roll = rng.random()
    if roll < 0.35:
        np_ = quantified(rng, noun, 0.4)
        prefix, suffix = [*rich_subject(rng), verb_for(rng, noun), "了"], ["。"]
    elif roll < 0.6:
        np_ = quantified(rng, noun, 0.4)
        prefix, suffix = [*(subject(rng) if rng.random() < 0.5 else rich_subject(rng)), "有"], ["。"]
    else:
        np_ = demonstrated(rng, noun, 1.0)
        prefix, suffix = [], [rng.choice(DEGREE), rng.choice(adjectives_of(noun)), "。"]
    good = [*prefix, *np_, *suffix]
    return good, replace(good, len(prefix) + 1, wrong_classifier(rng, noun))


def pair_word_order(rng: random.Random) -> tuple[Words, Words]:
    """"那只小猫在吃一条鱼。" / "*那只小猫在一条鱼吃。"."""
    s = rich_subject(rng)
    roll = rng.random()
    if roll < 0.4:
        prefix, verb = [*s, "在"], rng.choice(TRANSITIVE)
    elif roll < 0.7:
        prefix, verb = [*s, "想"], rng.choice(TRANSITIVE)
    else:
        prefix, verb = s, rng.choice(LIKING)
    o = obj(rng, objects_of(verb))
    good = [*prefix, verb, *o, "。"]
    return good, move(good, len(prefix), len(prefix) + 1, len(prefix) + len(o))


def pair_aspect_marker(rng: random.Random) -> tuple[Words, Words]:
    """"小猫吃了一条鱼。" / "*小猫了吃一条鱼。"; "宝宝看过这本书。" / "*宝宝过看这本书。"."""
    s = rich_subject(rng)
    if rng.random() < 0.5:
        verb = rng.choice(TRANSITIVE)
        good = [*s, verb, "了", *counted_obj(rng, objects_of(verb)), "。"]
    else:
        verb = rng.choice(TRANSITIVE)
        good = [*s, verb, "过", *demonstrated(rng, rng.choice(objects_of(verb)), 0.3), "。"]
    return good, swap(good, len(s), len(s) + 1)


def pair_question_particle(rng: random.Random) -> tuple[Words, Words]:
    """"你要不要红色的球呢？" / "*你要不要红色的球吗？"."""
    good = a_not_a(rng, particle="呢")
    if good[0] in PRONOUNS or good[0] in KIN:
        # A modified subject keeps the pair sentence rare in the corpus; the question is the same.
        good = [*rich_subject(rng), *good[1:]]
    return good, replace(good, len(good) - 2, "吗")


def pair_ba(rng: random.Random) -> tuple[Words, Words]:
    """"宝宝把那个苹果吃了。" / "*宝宝把吃那个苹果了。"."""
    s = subject(rng) if rng.random() < 0.5 else rich_subject(rng)
    verb = rng.choice(BA_VERBS)
    o = definite_obj(rng, objects_of(verb))
    good = [*s, "把", *o, verb, "了", "。"]
    verb_at = len(s) + 1 + len(o)
    return good, move(good, verb_at, verb_at + 1, len(s) + 1)


def pair_negation_aspect(rng: random.Random) -> tuple[Words, Words]:
    """"小猫没吃过这条鱼。" / "*小猫没吃了这条鱼。"."""
    s = rich_subject(rng) if rng.random() < 0.6 else subject(rng)
    verb = rng.choice(TRANSITIVE)
    noun = rng.choice(objects_of(verb))
    o = demonstrated(rng, noun, 0.3) if rng.random() < 0.5 else bare(rng, noun, 0.5)
    good = [*s, "没", verb, "过", *o, "。"]
    return good, replace(good, len(s) + 2, "了")


def pair_negation_you(rng: random.Random) -> tuple[Words, Words]:
    """"那只小狗没有红色的球。" / "*那只小狗不有红色的球。"."""
    s = rich_subject(rng) if rng.random() < 0.85 else ["这里"]
    good = [*s, "没有", *bare(rng, rng.choice(NOUNS), 0.7), "。"]
    return good, replace(good, len(s), "不有")


PARADIGMS = (
    Paradigm("classifier_noun_agreement", "syntax_semantics", "classifier_noun_agreement", pair_classifier),
    Paradigm("basic_word_order_svo", "syntax", "word_order", pair_word_order, reorders=True),
    Paradigm("aspect_marker_placement", "syntax", "aspect", pair_aspect_marker, reorders=True),
    Paradigm("question_particle_a_not_a", "syntax", "question_formation", pair_question_particle),
    Paradigm("ba_construction", "syntax", "ba_construction", pair_ba, reorders=True),
    Paradigm("negation_aspect_mei_le", "syntax_semantics", "negation", pair_negation_aspect),
    Paradigm("negation_you_mei_bu", "morphology", "negation", pair_negation_you),
)
