"""How the project runs under Kedro and MLflow: settings helpers shared by every package.

`schema` (the strict pydantic base and `ConfigurationError`), `parameters`
(the schema of every parameter group and the start-up validation),
`resolvers` (the OmegaConf resolvers of `settings.py`: project root, MLflow
URIs) and `backlog` (MLflow writes kept locally while the server is
unreachable). It imports no other package of the project.
"""
