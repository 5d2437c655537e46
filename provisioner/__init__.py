"""smprov: provision the AWS infrastructure for SageMaker training, with boto3 and a JSON state."""

__version__ = "0.1.0"
