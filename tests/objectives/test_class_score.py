"""Simonyan's class score objective: the unnormalised logit per image, or the log-softmax option."""

import pytest
import torch

from convis.objectives.classes import class_score
from convis.runtime.errors import ConvisError


def test_each_image_scores_its_own_target_logit():
    logits = torch.tensor([[1.0, 5.0, -2.0], [0.5, 0.0, 3.0]])
    loss = class_score([1, 2])({"logits": logits})
    torch.testing.assert_close(loss, torch.tensor([-5.0, -3.0]))


def test_softmax_is_the_log_probability_which_other_classes_can_raise():
    logits = torch.tensor([[2.0, 1.0, 0.0]])
    loss = class_score([0], score="softmax")({"logits": logits})
    torch.testing.assert_close(loss, -torch.log_softmax(logits, 1)[:, 0])
    lowered_others = torch.tensor([[2.0, -5.0, -5.0]])  # same S_c, lower competitors
    assert class_score([0], "softmax")({"logits": lowered_others}) < loss
    assert class_score([0])({"logits": lowered_others}) == class_score([0])({"logits": logits})


def test_gradient_of_the_logit_objective_is_minus_one_on_the_target_only():
    logits = torch.zeros(2, 4, requires_grad=True)
    class_score([3, 0])({"logits": logits}).sum().backward()
    expected = torch.zeros(2, 4)
    expected[0, 3] = expected[1, 0] = -1
    torch.testing.assert_close(logits.grad, expected)


def test_unknown_score_names_the_choices():
    with pytest.raises(ConvisError, match=r"objective.score='prob'.*logit.*softmax"):
        class_score([0], score="prob")
