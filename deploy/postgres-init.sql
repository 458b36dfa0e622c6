-- One server, three databases: Dagster storage (POSTGRES_DB), the MLflow backend and Feast's registry.
CREATE DATABASE mlflow;
CREATE DATABASE feast;
