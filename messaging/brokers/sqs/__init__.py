"""Amazon SQS (and endpoints that speak its API: LocalStack, ElasticMQ, moto) through boto3."""

from messaging.brokers.sqs.broker import SQSBroker

__all__ = ["SQSBroker"]
