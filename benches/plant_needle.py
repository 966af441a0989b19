"""Plants a needle in a generated trail: three events of one principal (an IAM user with its
own access key and source address, none of which the generator uses) on 2024-03-15, in a
delivery file of their own. The benchmarks look for it among millions.

Usage: python3 plant_needle.py TRAIL_DIR
"""
import gzip
import json
import pathlib
import sys

ARN = "arn:aws:iam::111122223333:user/needle"
KEY = "AKIANEEDLE0000000001"
IP = "198.51.100.77"

day = pathlib.Path(sys.argv[1], "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/15")
day.mkdir(parents=True, exist_ok=True)
records = [{
    "eventVersion": "1.08", "eventTime": f"2024-03-15T12:0{i}:00Z",
    "eventSource": "s3.amazonaws.com", "eventName": "GetObject", "awsRegion": "us-east-1",
    "sourceIPAddress": IP, "userAgent": "aws-cli/2.15.0",
    "userIdentity": {"type": "IAMUser", "principalId": "AIDANEEDLE", "arn": ARN,
                     "accountId": "111122223333", "accessKeyId": KEY, "userName": "needle"},
    "requestParameters": {"bucketName": "needle-bucket", "key": f"secret/{i}.txt"},
    "responseElements": None, "eventID": f"00000000-0000-4000-8000-0000000ee{i:03d}",
    "eventType": "AwsApiCall", "recipientAccountId": "111122223333", "readOnly": True,
} for i in range(3)]
name = day / "111122223333_CloudTrail_us-east-1_20240315T1205Z_NEEDLE0000000001.json.gz"
with gzip.open(name, "wt") as f:
    json.dump({"Records": records}, f)
