"""Sample departments (公安局, 人社局, 市场监管局) with deterministic synthetic registers."""

from connectors.samples.data import SampleSubjects, generate, sample_subjects

__all__ = ["SampleSubjects", "generate", "sample_subjects"]
