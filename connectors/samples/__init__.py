"""Sample source departments (公安局, 人社局, 市场监管局, 不动产登记中心, 法院, 民政局, 卫健委, 医保局) with
deterministic synthetic registers (docs/sample-data.md)."""

from connectors.samples.data import SampleSubjects, generate, sample_subjects

__all__ = ["SampleSubjects", "generate", "sample_subjects"]
