"""Hypothesis capped as scripts/chroma-suite.sh caps it: 10 examples, 20 steps, no deadline, no shrinking."""
import hypothesis

def pytest_configure(config):
    hypothesis.settings.register_profile(
        "chroma_rs_cap", max_examples=10, stateful_step_count=20, deadline=None, derandomize=True,
        database=None, suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.reuse, hypothesis.Phase.generate])
    hypothesis.settings.load_profile("chroma_rs_cap")
