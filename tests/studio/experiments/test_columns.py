"""The dataset's column types are the types a run featurizes with, unless the job types a column itself."""
from studio.experiments.columns import with_dataset_types


class Version:
    def __init__(self, columns):
        self.columns = columns

    def included_columns(self):
        return [c for c in self.columns if not c.get("excluded")]


VERSION = Version([{"name": "age", "type": "numeric"}, {"name": "previous", "type": "categorical"},
                   {"name": "housing", "type": "boolean"}, {"name": "when", "type": "datetime"},
                   {"name": "note", "type": "text"}, {"name": "ref", "type": "id"},
                   {"name": "gone", "type": "numeric", "excluded": True}, {"name": "y", "type": "boolean"}])


def test_the_schema_types_every_feature_column_the_job_leaves_untyped():
    config = {"target_column_name": "y", "featurization": {"mode": "auto",
                                                            "column_name_and_types": {"age": "Categorical"}}}
    typed = with_dataset_types(config, VERSION)["featurization"]["column_name_and_types"]
    assert typed == {"age": "Categorical", "previous": "Categorical", "housing": "Categorical", "when": "DateTime",
                     "note": "Text"}
    assert config["featurization"]["column_name_and_types"] == {"age": "Categorical"}  # not changed in place


def test_featurization_off_uses_the_columns_as_they_are():
    config = {"target_column_name": "y", "featurization": {"mode": "off"}}
    assert with_dataset_types(config, VERSION) == config
