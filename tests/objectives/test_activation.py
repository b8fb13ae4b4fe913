"""Activation terms against their definitions, their composition, and Olah et al.'s diversity."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from convis.objectives.activation import activation, channel, diversity, dream, neuron
from convis.runtime.errors import ConvisError

weights = st.floats(min_value=-10, max_value=10, allow_nan=False)
channels = st.integers(min_value=0, max_value=4)


def acts(seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {"a": torch.randn(3, 5, 4, 6, generator=generator), "fc": torch.randn(3, 7, generator=generator)}


def test_terms_are_minus_their_activation():
    a = acts()
    torch.testing.assert_close(channel("a", 2)(a), -a["a"][:, 2].mean((1, 2)))
    torch.testing.assert_close(neuron("a", 2, 1, 5)(a), -a["a"][:, 2, 1, 5])
    torch.testing.assert_close(dream("a")(a), -a["a"].square().mean((1, 2, 3)))
    torch.testing.assert_close(channel("fc", 6)(a), -a["fc"][:, 6])  # a unit of a fully connected layer


@settings(max_examples=40, deadline=None)
@given(w1=weights, w2=weights, w3=weights, c1=channels, c2=channels, seed=st.integers(0, 1000))
def test_a_composed_objective_is_the_weighted_sum_of_its_parts(w1, w2, w3, c1, c2, seed):
    a = acts(seed)
    composed = w1 * channel("a", c1) - w2 * neuron("a", c2, 0, 0) + w3 * dream("fc")
    expected = -w1 * a["a"][:, c1].mean((1, 2)) + w2 * a["a"][:, c2, 0, 0] - w3 * a["fc"].square().mean(1)
    torch.testing.assert_close(composed(a), expected)
    assert composed.layers == ("a", "fc")


def test_activation_picks_the_term_and_resolves_the_centre():
    a = acts()
    shape = (5, 4, 6)
    torch.testing.assert_close(activation("a", shape)(a), dream("a")(a))
    torch.testing.assert_close(activation("a", shape, 3)(a), channel("a", 3)(a))
    torch.testing.assert_close(activation("a", shape, 3, [1, 2])(a), neuron("a", 3, 1, 2)(a))
    assert activation("a", shape, 3, "center").terms[0][1].name == "a:3@2,3"


@pytest.mark.parametrize(
    ("index", "position", "message"),
    [
        (5, None, r"channel 5 is out of range for a: it has 5 channels \(0-4\)"),
        (-1, None, r"channel -1 is out of range for a: it has 5 channels"),
        (None, [0, 0], r"objective.neuron needs objective.channel"),
        (1, [4, 0], r"neuron \[4, 0\] is not a position of a: give \[y, x\] with 0 <= y < 4, 0 <= x < 6, or center"),
        (1, "middle", r"neuron 'middle' is not a position of a"),
    ],
)
def test_bad_channels_and_neurons_fail_clearly(index, position, message):
    with pytest.raises(ConvisError, match=message):
        activation("a", (5, 4, 6), index, position)


def test_a_fully_connected_layer_has_no_neurons():
    with pytest.raises(ConvisError, match="fc has no spatial positions"):
        activation("fc", (7,), 1, "center")


def test_diversity_is_the_summed_gram_cosine_similarity_to_the_other_images():
    same = torch.rand(1, 4, 3, 3).expand(3, 4, 3, 3)
    torch.testing.assert_close(diversity("a")({"a": same}), torch.full((3,), 2.0))  # identical: cos 1 to 2 others
    apart = torch.zeros(3, 4, 3, 3)
    for i in range(3):
        apart[i, i] = torch.rand(3, 3) + 0.1  # each image lights a different channel: orthogonal Grams
    torch.testing.assert_close(diversity("a")({"a": apart}), torch.zeros(3))
    a = torch.rand(2, 4, 3, 3)
    grams = [f @ f.T for f in a.flatten(2)]
    cosine = (grams[0] * grams[1]).sum() / (grams[0].norm() * grams[1].norm())
    torch.testing.assert_close(diversity("a")({"a": a}), torch.stack([cosine, cosine]))
