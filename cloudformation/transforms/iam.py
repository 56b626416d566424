"""Least privilege: Chalice's one ``DefaultRole`` (logs on ``arn:*:logs:*:*:*``, SQS on ``*``) becomes
one role per function granting only what that function's code paths use, on exact ARNs: its own log
group, the table and index, the table's stream, the queues it sends to or reads, the assistant's
model or inference profile; with PrivateNetwork on, the network-interface actions Lambda needs to attach a
function in the VPC (network.py). X-Ray's write actions and ec2:DescribeNetworkInterfaces are the ``*``
resources (AWS offers no resource-level permission for them), beside the region of an inference profile's
model, usable only through that profile (see below)."""

from __future__ import annotations

from dataclasses import dataclass

from cloudformation.template import NO_VALUE
from cloudformation.template import Template
from cloudformation.template import add_condition
from cloudformation.template import add_resource
from cloudformation.template import clone
from cloudformation.template import functions
from cloudformation.template import resources
from cloudformation.transforms import chat_commands
from cloudformation.transforms import network
from cloudformation.transforms.functions import BEDROCK_ENABLED
from cloudformation.transforms.functions import MODEL_PARAMETER
from cloudformation.transforms.notifier import WEBHOOK_PARAMETER_ARN
from cloudformation.transforms.notifier import notifiers
from cloudformation.transforms.observability import log_group
from cloudformation.transforms.queues import ACTIVITY_QUEUE
from cloudformation.transforms.queues import DEAD_LETTER_QUEUE
from cloudformation.transforms.queues import consumers
from cloudformation.transforms.stream import FAILURE_QUEUE
from cloudformation.transforms.stream import forwarders
from cloudformation.transforms.streaming import FUNCTION as STREAM_HANDLER
from cloudformation.transforms.tables import TASKS
from cloudformation.transforms.tables import stream_arn
from cloudformation.transforms.tables import table_arns

# The DynamoDB adapter's requests (chalicelib/store/dynamodb.py); a transaction of puts needs PutItem.
TABLE_READ = ("dynamodb:GetItem", "dynamodb:Query")
TABLE_WRITE = TABLE_READ + ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
SQS_SEND = ("sqs:SendMessage",)
# What Lambda's event source mapping calls with the function's role.
SQS_RECEIVE = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
# What Lambda's DynamoDB Streams event source mapping calls with the function's role (the Lambda
# developer guide's execution role permissions for DynamoDB), here on the one stream's ARN.
STREAM_READ = ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams")
# The bedrock provider calls only ConverseStream (the buffered answer consumes the same stream), which
# is authorised as InvokeModelWithResponseStream; Converse (InvokeModel) is never called.
BEDROCK = ("bedrock:InvokeModelWithResponseStream",)
LOGS = ("logs:CreateLogStream", "logs:PutLogEvents")
# The notifier reads the Slack webhook's SecureString with decryption (chalicelib/alerts/ssm.py). No
# kms:Decrypt: the parameter is encrypted with the AWS managed key aws/ssm, whose key policy already lets
# every principal of the account decrypt through SSM (AWS Systems Manager user guide, "Restricting
# decryption of SecureString parameter values"). A customer managed key would need kms:Decrypt on it.
SSM_READ = ("ssm:GetParameter",)
XRAY = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")

# The model grant depends on the BedrockModelId parameter, so CloudFormation decides it (Conditions).
# A foundation model id (amazon.nova-micro-v1:0) is granted in this region. A cross-region inference
# profile id (us.amazon.nova-micro-v1:0) needs, per the Bedrock user guide (geographic and global
# cross-Region inference, IAM policy requirements): the profile in this region and account, and its
# foundation model in the regions the profile routes to, here allowed only through that very profile
# (bedrock:InferenceProfileArn). A geographic profile's destination regions are AWS's to extend, so the
# model's region is `*`; the profile condition bounds it to where that profile routes. A global profile
# needs the model in this region and the region-less model ARN, which Bedrock requests with
# aws:RequestedRegion "unspecified".
MODEL_IS_PROFILE = "BedrockModelIsProfile"
MODEL_IS_GLOBAL_PROFILE = "BedrockModelIsGlobalProfile"
GRANT_FOUNDATION_MODEL = "BedrockGrantsFoundationModel"
GRANT_PROFILE = "BedrockGrantsInferenceProfile"
GRANT_GLOBAL_PROFILE = "BedrockGrantsGlobalInferenceProfile"
# Split on "." with two dots appended, so index 2 exists for either shape: "" for provider.model, the
# model for geography.provider.model (the parameter's AllowedPattern admits only those two).
_PARTS = {"Fn::Split": [".", {"Fn::Sub": "${" + MODEL_PARAMETER + "}.."}]}
MODEL_CONDITIONS = {
    MODEL_IS_PROFILE: {"Fn::Not": [{"Fn::Equals": [{"Fn::Select": [2, _PARTS]}, ""]}]},
    MODEL_IS_GLOBAL_PROFILE: {
        "Fn::And": [{"Condition": MODEL_IS_PROFILE}, {"Fn::Equals": [{"Fn::Select": [0, _PARTS]}, "global"]}]
    },
    GRANT_FOUNDATION_MODEL: {
        "Fn::And": [{"Condition": BEDROCK_ENABLED}, {"Fn::Not": [{"Condition": MODEL_IS_PROFILE}]}]
    },
    GRANT_PROFILE: {"Fn::And": [{"Condition": BEDROCK_ENABLED}, {"Condition": MODEL_IS_PROFILE}]},
    GRANT_GLOBAL_PROFILE: {"Fn::And": [{"Condition": BEDROCK_ENABLED}, {"Condition": MODEL_IS_GLOBAL_PROFILE}]},
}
# The profile's foundation model: the id without its geography prefix.
_PROFILE_MODEL = {"Model": {"Fn::Join": [".", [{"Fn::Select": [1, _PARTS]}, {"Fn::Select": [2, _PARTS]}]]}}
MODEL_ARN = {"Fn::Sub": "arn:${AWS::Partition}:bedrock:${AWS::Region}::foundation-model/${" + MODEL_PARAMETER + "}"}
PROFILE_ARN = {
    "Fn::Sub": "arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:inference-profile/${"
    + MODEL_PARAMETER
    + "}"
}
PROFILE_MODEL_ARN = {
    "Fn::If": [
        MODEL_IS_GLOBAL_PROFILE,
        {"Fn::Sub": ["arn:${AWS::Partition}:bedrock:${AWS::Region}::foundation-model/${Model}", _PROFILE_MODEL]},
        {"Fn::Sub": ["arn:${AWS::Partition}:bedrock:*::foundation-model/${Model}", _PROFILE_MODEL]},
    ]
}
GLOBAL_MODEL_ARN = {"Fn::Sub": ["arn:${AWS::Partition}:bedrock:::foundation-model/${Model}", _PROFILE_MODEL]}
THROUGH_PROFILE = {"bedrock:InferenceProfileArn": PROFILE_ARN}


@dataclass(frozen=True)
class Needs:
    table: tuple[str, ...] = ()
    receive: tuple[str, ...] = ()
    bedrock: bool = False
    stream: bool = False  # reads the table's change stream (its event source mapping)
    send: tuple[str, ...] = ()  # queues it sends to that exist whenever it does
    operations: bool = False  # reads and flips the region switch, runs the chat commands (chat_commands.py)
    parameters: tuple[tuple[str, object], ...] = ()  # (Sid, ARN) of SSM parameters it reads


# Who needs what, by function. The API serves every route (items, profile, buffered assistant) and sends
# no event (the table's change stream is the outbox: the forwarder sends them); the stream only reads the
# caller's items for the assistant's context.
NEEDS = {
    "APIHandler": Needs(table=TABLE_WRITE, bedrock=True, operations=True),
    STREAM_HANDLER: Needs(table=TABLE_READ, bedrock=True),
}
# Consumers, by the queue they read: activity updates STATS and ACTIVITY# records (and notes why a message
# failed); the dead-letter consumer reads that note and keeps the message (chalicelib/tasks/dead_letters.py).
DEAD_LETTER_TABLE = ("dynamodb:GetItem", "dynamodb:PutItem")
CONSUMER_NEEDS = {
    ACTIVITY_QUEUE: Needs(table=TABLE_WRITE, receive=(ACTIVITY_QUEUE,)),
    DEAD_LETTER_QUEUE: Needs(table=DEAD_LETTER_TABLE, receive=(DEAD_LETTER_QUEUE,)),
}
# The forwarder reads the stream and sends each change's events to the activity queue; Lambda sends what
# outlived the stream to the failure queue with the forwarder's role. It never touches the table's items.
FORWARDER_NEEDS = Needs(stream=True, send=(ACTIVITY_QUEUE, FAILURE_QUEUE))
# The notifier reads one parameter, the webhook's URL, and touches nothing else of the stack's.
NOTIFIER_NEEDS = Needs(parameters=(("ReadSlackWebhook", WEBHOOK_PARAMETER_ARN),))


def _when(condition: str, statement: dict) -> dict:
    return {"Fn::If": [condition, statement, NO_VALUE]}


def statements(name: str, needs: Needs, *, private: bool = False) -> list:
    found = [
        {
            "Sid": "OwnLogGroup",
            "Effect": "Allow",
            "Action": list(LOGS),
            "Resource": {"Fn::GetAtt": [log_group(name), "Arn"]},
        },
        {"Sid": "Tracing", "Effect": "Allow", "Action": list(XRAY), "Resource": "*"},
    ]
    if needs.table:
        index = "dynamodb:Query" in needs.table
        found.append(
            _when(
                TASKS.condition,
                {
                    "Sid": "TasksTable",
                    "Effect": "Allow",
                    "Action": list(needs.table),
                    "Resource": table_arns(TASKS, index=index),
                },
            )
        )
    if needs.stream:
        # A forwarder exists only with its table (stream.py), so no condition is needed here.
        found.append(
            {"Sid": "ReadTableStream", "Effect": "Allow", "Action": list(STREAM_READ), "Resource": stream_arn(TASKS)}
        )
    # Each queue exists whenever its sender or consumer does (queues.py, stream.py): no condition needed.
    for verb, actions, queues in (("Send", SQS_SEND, needs.send), ("Receive", SQS_RECEIVE, needs.receive)):
        found.extend(
            {
                "Sid": f"{verb}{queue}",
                "Effect": "Allow",
                "Action": list(actions),
                "Resource": {"Fn::GetAtt": [queue, "Arn"]},
            }
            for queue in queues
        )
    found.extend(
        {"Sid": sid, "Effect": "Allow", "Action": list(SSM_READ), "Resource": arn} for sid, arn in needs.parameters
    )
    if needs.bedrock:
        found.extend(_model_statements())
    if needs.operations:
        found.extend(chat_commands.statements())
    if private:  # in the VPC when PrivateNetwork is on: Lambda attaches it with this role (network.py)
        found.extend(network.statements())
    return found


def _model_statements() -> list:
    def allow(sid: str, resource: object, condition: dict | None = None) -> dict:
        statement = {"Sid": sid, "Effect": "Allow", "Action": list(BEDROCK), "Resource": resource}
        if condition:
            statement["Condition"] = {"StringEquals": condition}
        return statement

    return [
        _when(GRANT_FOUNDATION_MODEL, allow("AssistantModel", MODEL_ARN)),
        _when(GRANT_PROFILE, allow("AssistantInferenceProfile", PROFILE_ARN)),
        _when(GRANT_PROFILE, allow("AssistantModelThroughProfile", PROFILE_MODEL_ARN, THROUGH_PROFILE)),
        _when(
            GRANT_GLOBAL_PROFILE,
            allow(
                "AssistantGlobalModelThroughProfile",
                GLOBAL_MODEL_ARN,
                {**THROUGH_PROFILE, "aws:RequestedRegion": "unspecified"},
            ),
        ),
    ]


def transform(template: Template) -> Template:
    out = clone(template)
    resources(out).pop("DefaultRole", None)
    for name, condition in MODEL_CONDITIONS.items():
        add_condition(out, name, condition)
    consumed = consumers(out)
    forwarding = forwarders(out)
    notifying = notifiers(out)
    for name, function in list(functions(out)):
        if name in consumed:
            needs = CONSUMER_NEEDS[consumed[name]]
        elif name in forwarding:
            needs = FORWARDER_NEEDS
        elif name in notifying:
            needs = NOTIFIER_NEEDS
        else:
            needs = NEEDS.get(name, Needs())
        role = {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                },
                "Policies": [
                    {
                        "PolicyName": f"{name}Policy",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": statements(name, needs, private=network.private(function)),
                        },
                    }
                ],
                "Tags": [{"Key": "app", "Value": "tasks-api"}],
            },
        }
        if function.get("Condition"):
            role["Condition"] = function["Condition"]
        add_resource(out, f"{name}Role", role)
        function["Properties"]["Role"] = {"Fn::GetAtt": [f"{name}Role", "Arn"]}
    leftovers = [n for n, r in resources(out).items() if "DefaultRole" in repr(r.get("Properties", {}))]
    if leftovers:
        raise ValueError(f"resources still use Chalice's DefaultRole: {leftovers}")
    return out
