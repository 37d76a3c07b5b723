"""Knowledge-gap clustering: paraphrases share a topic, different needs separate, in zh and en."""

from __future__ import annotations

import random

import numpy as np
import pytest

from analytics.gaps import Topic, cluster_questions

EN_TOPICS = [
    ["How do I reset my password?", "I forgot my password, how can I reset it?", "password reset link not working",
     "Can't reset the password on my account"],
    ["Where is my order?", "My order has not arrived yet", "track my order status please", "order still not delivered"],
    ["How do I get a refund?", "I want a refund for my purchase", "refund for a damaged item",
     "how long does a refund take"],
]
ZH_TOPICS = [
    ["怎么修改密码", "密码忘了怎么办", "如何重置登录密码", "登录密码错误怎么办"],
    ["我的快递到哪了", "快递一直没有到", "快递什么时候到", "查一下快递物流"],
    ["怎么申请退款", "退款多久到账", "我要退款", "退款申请被拒绝了"],
]

ITEMS_EN = """lamp kettle sofa camera tablet jacket helmet blender printer monitor speaker backpack watch scarf
mattress toaster drone guitar bicycle stroller"""
ITEMS_ZH = "台灯 水壶 沙发 相机 平板 夹克 头盔 搅拌机 打印机 显示器 音箱 背包 手表 围巾 床垫 烤箱 无人机 吉他 自行车 婴儿车"


def flatten(groups: list[list[str]]) -> tuple[list[str], list[set[int]]]:
    questions, members = [], []
    for group in groups:
        members.append(set(range(len(questions), len(questions) + len(group))))
        questions += group
    return questions, members


def shuffled(questions: list[str], members: list[set[int]], seed: int) -> tuple[list[str], list[set[int]]]:
    order = list(range(len(questions)))
    random.Random(seed).shuffle(order)
    position = {old: new for new, old in enumerate(order)}
    return [questions[i] for i in order], [{position[i] for i in group} for group in members]


@pytest.mark.parametrize("groups", [EN_TOPICS, ZH_TOPICS, EN_TOPICS + ZH_TOPICS], ids=["en", "zh", "mixed"])
def test_paraphrases_share_a_topic_and_different_needs_separate(groups: list[list[str]]) -> None:
    questions, expected = shuffled(*flatten(groups), seed=1)
    topics = cluster_questions(questions)
    assert sorted(map(sorted, expected)) == sorted(sorted(t.member_indices) for t in topics)


def test_topics_carry_counts_examples_and_a_member_as_label() -> None:
    canada = ["Do you ship to Canada?", "shipping to Canada cost", "ship to Canada?", "Canada shipping times",
              "do you ship to canada", "shipping Canada"]
    questions, _ = flatten([*EN_TOPICS, canada])
    topics = cluster_questions(questions)
    assert [t.count for t in topics] == [6, 4, 4, 4]  # largest first
    assert sum(t.count for t in topics) == len(questions)
    for topic in topics:
        members = [questions[i] for i in topic.member_indices]
        assert topic.count == len(topic.member_indices)
        assert topic.label in members
        assert topic.examples[0] == topic.label
        assert 1 <= len(topic.examples) <= 5 and set(topic.examples) <= set(members)
    assert len(topics[0].examples) == 5


def test_same_questions_give_the_same_topics() -> None:
    questions, _ = flatten(EN_TOPICS + ZH_TOPICS)
    assert cluster_questions(questions) == cluster_questions(list(questions))


def test_max_topics_caps_the_number_of_topics_keeping_the_largest() -> None:
    questions, _ = flatten(EN_TOPICS + ZH_TOPICS)
    two = cluster_questions(questions, max_topics=2)
    assert len(two) == 2 and two[0].count >= two[1].count
    assert len(cluster_questions(questions, max_topics=1)) == 1


def test_a_question_unlike_the_others_stands_alone() -> None:
    # k-means would put the odd questions into the nearest topic; they are no part of it.
    odd = ["顺丰能到新疆吗", "can I pay with 花呗", "兑换码用不了", "转人工"]
    questions, _ = flatten([*EN_TOPICS, odd])
    topics = cluster_questions(questions)
    for topic in topics:
        assert len(topic.member_indices) == 1 or not set(topic.member_indices) & set(range(12, 16)), topic.examples


def test_questions_without_content_terms_are_no_gap() -> None:
    topics = cluster_questions(["hello?", "ok", "谢谢", *EN_TOPICS[0]])
    assert sorted(i for t in topics for i in t.member_indices) == [3, 4, 5, 6]


def test_blank_questions_are_skipped_and_empty_input_gives_no_topics() -> None:
    assert cluster_questions([]) == []
    assert cluster_questions(["", "   "]) == []
    topics = cluster_questions(["", *EN_TOPICS[0], "  ", *EN_TOPICS[1]])
    assert sorted(sorted(t.member_indices) for t in topics) == [[1, 2, 3, 4], [6, 7, 8, 9]]


def test_embeddings_passed_in_decide_the_grouping() -> None:
    # No shared words at all: only the (synthetic) embeddings say which questions mean the same.
    questions = ["apple", "banana", "cherry", "delta", "echo", "foxtrot"]
    rng = np.random.default_rng(0)
    centres = np.eye(8)[[0, 0, 0, 5, 5, 5]]
    embeddings = centres + 0.05 * rng.standard_normal((6, 8))
    topics = cluster_questions(questions, embeddings=embeddings)
    assert sorted(sorted(t.member_indices) for t in topics) == [[0, 1, 2], [3, 4, 5]]


def test_a_large_set_is_grouped_by_need() -> None:
    rng = random.Random(2)
    templates = {
        "password": ["reset my password {}", "forgot password for {}", "password change {}"],
        "invoice": ["download invoice {}", "invoice copy for {}", "need an invoice {}"],
        "delivery": ["delivery delayed {}", "late delivery of {}", "when is delivery {}"],
        "退款": ["退款{}", "申请退款{}", "退款进度{}"],
        "发票": ["开发票{}", "发票抬头{}", "电子发票{}"],
    }
    # Customers ask about many different items; the need is what their questions share.
    things = {"en": ITEMS_EN.split(), "zh": ITEMS_ZH.split()}
    questions, needs = [], []
    for _ in range(260):
        need = rng.choice(sorted(templates))
        filler = rng.choice(things["en" if need.isascii() else "zh"])
        questions.append(rng.choice(templates[need]).format(filler))
        needs.append(need)
    topics = cluster_questions(questions, max_topics=8)
    for topic in topics:
        assert len({needs[i] for i in topic.member_indices}) == 1, topic.examples
    assert len(topics) == 5


@pytest.mark.parametrize(
    ("questions", "options", "message"),
    [
        ("how do I pay", {}, "questions must be a list of strings"),
        (["ok", 3], {}, "question 1 must be a string, got int"),
        (["a", "b"], {"max_topics": 0}, "max_topics must be a whole number of at least 1"),
        (["a", "b"], {"embeddings": np.ones((3, 4))}, "got 2 questions but 3 embeddings"),
        (["a", "b"], {"embeddings": np.array([[1.0, np.nan], [0.0, 1.0]])}, "finite"),
    ],
)
def test_bad_input_raises_value_error_saying_what_to_fix(questions, options, message) -> None:
    with pytest.raises(ValueError, match=message):
        cluster_questions(questions, **options)


def test_topic_is_a_plain_value() -> None:
    topic = Topic(label="x", count=1, examples=["x"], member_indices=[0])
    assert topic == Topic("x", 1, ["x"], [0])
