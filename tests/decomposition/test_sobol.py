"""Saltelli's design and Jansen's total Sobol indices against functions whose indices are known in closed form."""

import pytest
import torch

from convis.decomposition.sobol import jansen_total, saltelli_design, total_indices


def test_only_the_input_a_function_reads_has_a_total_index():
    found = total_indices(lambda m: m[:, 0], dimensions=4, designs=256, seed=0)
    assert found[0] == pytest.approx(1.0, abs=1e-3)
    assert found[1:].tolist() == [0.0, 0.0, 0.0]  # f(A_B^i) = f(A) exactly for an input f does not read


def test_an_additive_function_has_indices_a_i_squared_over_their_sum():
    found = total_indices(lambda m: 3 * m[:, 0] + m[:, 1], dimensions=3, designs=256, seed=0)
    torch.testing.assert_close(found, torch.tensor([0.9, 0.1, 0.0], dtype=torch.float64), atol=2e-3, rtol=0)


def test_an_interaction_counts_in_both_inputs_totals():
    # f = m1 m2, uniform masks: Var f = 7/144 and E[Var(f | m2)] = E[m2^2] Var(m1) = 1/36, so ST_1 = ST_2 = 4/7
    found = total_indices(lambda m: m[:, 0] * m[:, 1], dimensions=2, designs=1024, seed=0)
    torch.testing.assert_close(found, torch.full((2,), 4 / 7, dtype=torch.float64), atol=2e-3, rtol=0)


def test_the_estimate_can_exceed_one_at_the_papers_small_design():
    # the true index of f = m1 is 1; at 32 points the estimate's sampling error reaches above it
    assert total_indices(lambda m: m[:, 0], dimensions=4, designs=32, seed=0)[0] > 1


def test_the_estimate_stays_under_its_bound():
    # ST_i <= (S_A + S_i) / Var f, S the mean squared deviations of f(A) and f(A_B^i) from f's mean over A and B
    torch.manual_seed(0)
    dimensions, designs = 3, 16
    outputs = torch.randn(designs * (dimensions + 2)).double() ** 3
    values = outputs.reshape(dimensions + 2, designs)
    mean, variance = values[:2].mean(), values[:2].var(correction=0)
    bound = (((values[0] - mean) ** 2).mean() + ((values[2:] - mean) ** 2).mean(dim=1)) / variance
    found = jansen_total(outputs, dimensions, designs)
    assert (found <= bound + 1e-12).all() and (found >= 0).all()


def test_a_function_that_does_not_vary_has_no_important_input():
    assert jansen_total(torch.full((5 * 8,), 2.5), dimensions=3, designs=8).tolist() == [0.0, 0.0, 0.0]


def test_the_design_is_a_then_b_then_a_with_one_column_of_b_each():
    masks = saltelli_design(dimensions=3, designs=8, seed=1)
    assert masks.shape == (8 * 5, 3) and (masks >= 0).all() and (masks <= 1).all()
    a, b, mixed = masks[:8], masks[8:16], masks[16:].reshape(3, 8, 3)
    for i in range(3):
        others = [j for j in range(3) if j != i]
        assert torch.equal(mixed[i][:, i], b[:, i]) and torch.equal(mixed[i][:, others], a[:, others])


def test_the_seed_fixes_the_design():
    assert torch.equal(saltelli_design(4, 16, seed=3), saltelli_design(4, 16, seed=3))
    assert not torch.equal(saltelli_design(4, 16, seed=3), saltelli_design(4, 16, seed=4))
