"""The inversion loss against its definition: C ||Phi(x) - Phi0||^2 / ||Phi0||^2 per image."""

import torch

from convis.objectives.inversion import feature_match, normalized_error


def test_normalized_error_is_the_squared_distance_over_the_target_s_squared_norm():
    phi0 = torch.tensor([[[3.0, 4.0]], [[1.0, 0.0]]])  # norms 5 and 1
    phi = torch.tensor([[[3.0, 5.0]], [[0.0, 2.0]]])  # squared distances 1 and 5
    torch.testing.assert_close(normalized_error(phi, phi0), torch.tensor([1 / 25, 5.0]))
    assert normalized_error(phi0, phi0).eq(0).all()


def test_feature_match_is_c_times_the_error_at_its_layer():
    generator = torch.Generator().manual_seed(0)
    phi0, phi = torch.randn(2, 4, 3, 3, generator=generator), torch.randn(2, 4, 3, 3, generator=generator)
    objective = feature_match("features.5", phi0, weight=100.0)
    expected = 100 * ((phi - phi0) ** 2).sum((1, 2, 3)) / (phi0**2).sum((1, 2, 3))
    torch.testing.assert_close(objective({"features.5": phi, "other": phi0}), expected)
    assert objective.layers == ("features.5",)
