#!/usr/bin/env bash
# Deploy the stack: bootstrap the ECR repository, build and push the image, deploy the template, then
# upload the web console (console/ and its config.json) when the stack has one (EnableConsole).
# Needs `make package` first (make deploy runs it), the AWS CLI v2 and docker buildx.
#
#   scripts/deploy.sh [--dry-run] [--stack NAME] [--region REGION] [--arch arm64|x86_64] [--tag TAG]
#                     [--repository NAME] [--api rest|http] [Key=Value ...]
#
# --api names the flavour dist/ must hold (make package API=...; default: whichever dist/api-flavour says).
# Key=Value pairs are stack parameters (docs/DEPLOY.md "Stack parameters"), e.g. EnableSqsIntegration=false
# AlarmEmail=ops@example.com. --dry-run prints every command and runs none (values that only AWS
# knows, such as the account id, appear as <placeholders>).
set -euo pipefail
cd "$(dirname "$0")/.."

DRY_RUN=0
STACK="${STACK_NAME:-tasks-api}"
REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
ARCH="${ARCH:-arm64}"
TAG="${IMAGE_TAG:-}"
REPOSITORY="${ECR_REPOSITORY:-}"
DIST="${DIST:-dist}"
API=""
PARAMETERS=()

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
while (($#)); do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --stack) STACK="$2"; shift ;;
    --region) REGION="$2"; shift ;;
    --arch) ARCH="$2"; shift ;;
    --tag) TAG="$2"; shift ;;
    --repository) REPOSITORY="$2"; shift ;;
    --api) API="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    *=*) PARAMETERS+=("$1") ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

# The stage and cost center the Key=Value pairs name (the app stack's AppStage and CostCenter, whose
# defaults these are): the bootstrap stack publishes the repository under the stage's SSM prefix and tags it,
# and the app stack carries them as stack tags too, which CloudFormation hands to every resource that takes
# tags: the event source mappings SAM generates included, which the template cannot tag itself.
STAGE=prod
COST_CENTER=tasks-api
for pair in "${PARAMETERS[@]}"; do
  case "$pair" in
    AppStage=*) STAGE="${pair#AppStage=}" ;;
    CostCenter=*) COST_CENTER="${pair#CostCenter=}" ;;
  esac
done
SSM_PREFIX="/tasks-api/$STAGE"  # chalicelib/vocabulary.py SSM_PREFIX

case "$ARCH" in arm64|x86_64) ;; *) echo "--arch must be arm64 or x86_64" >&2; exit 2 ;; esac
[[ -n "$REGION" ]] || { echo "set --region or AWS_REGION" >&2; exit 2; }
REPOSITORY="${REPOSITORY:-$STACK}"
# A tag per build (the repository's tags are immutable); the stack pins the pushed digest anyway.
TAG="${TAG:-$(git rev-parse --short HEAD 2>/dev/null || echo build)-$(date -u +%Y%m%d%H%M%S)}"
PLATFORM="linux/$([[ "$ARCH" == arm64 ]] && echo arm64 || echo amd64)"

for needed in "$DIST/template.yaml" "$DIST/image/Dockerfile"; do
  [[ -e "$needed" ]] || { echo "$needed is missing: run make package first" >&2; exit 1; }
done
# The flavour the template was built for (python -m cloudformation.build writes it beside the template).
PACKAGED="$(cat "$DIST/api-flavour" 2>/dev/null || echo rest)"
API="${API:-$PACKAGED}"
case "$API" in rest|http) ;; *) echo "--api must be rest or http" >&2; exit 2 ;; esac
[[ "$API" == "$PACKAGED" ]] || {
  echo "$DIST holds the $PACKAGED stack, not $API: run make package API=$API first" >&2; exit 1; }

exec 3>&1  # the commands a capture prints go to the real stdout, in order
run() {  # print the command; run it unless this is a dry run
  printf '+ %s\n' "$*"
  ((DRY_RUN)) || "$@"
}

capture() {  # run a command for its output; a dry run prints it and yields the placeholder
  local placeholder="$1"; shift
  printf '+ %s\n' "$*" >&3
  if ((DRY_RUN)); then echo "$placeholder"; else "$@"; fi
}

run aws cloudformation deploy --region "$REGION" --stack-name "$STACK-bootstrap" \
  --template-file cloudformation/bootstrap.yaml \
  --parameter-overrides "RepositoryName=$REPOSITORY" "AppStage=$STAGE" "CostCenter=$COST_CENTER" \
  --no-fail-on-empty-changeset

# What the bootstrap stack published (SSM, not its outputs: docs/DEPLOY.md "What the stacks exchange").
REPOSITORY_URI=$(capture "<account>.dkr.ecr.$REGION.amazonaws.com/$REPOSITORY" \
  aws ssm get-parameter --region "$REGION" --name "$SSM_PREFIX/image/repository-uri" \
  --query Parameter.Value --output text)
REGISTRY="${REPOSITORY_URI%%/*}"

printf '+ %s | %s\n' "aws ecr get-login-password --region $REGION" \
  "docker login --username AWS --password-stdin $REGISTRY"
((DRY_RUN)) || aws ecr get-login-password --region "$REGION" | docker login --username AWS --password-stdin "$REGISTRY"

# --provenance=false: Lambda accepts a single-platform image manifest, not an attestation index.
run docker buildx build --platform "$PLATFORM" --build-arg "ARCH=$ARCH" --provenance=false \
  --tag "$REPOSITORY_URI:$TAG" --push "$DIST/image"

DIGEST=$(capture "sha256:<digest>" \
  aws ecr describe-images --region "$REGION" --repository-name "$REPOSITORY" --image-ids "imageTag=$TAG" \
  --query "imageDetails[0].imageDigest" --output text)

# The stack reads the repository from the same SSM parameter; the digest pins the image just pushed.
# Parameters not given keep the values the stack has (aws cloudformation deploy), ConsoleOrigin among them.
deploy_app() {
  run aws cloudformation deploy --region "$REGION" --stack-name "$STACK" \
    --template-file "$DIST/template.yaml" \
    --capabilities CAPABILITY_NAMED_IAM CAPABILITY_AUTO_EXPAND \
    --no-fail-on-empty-changeset \
    --tags app=tasks-api "api=$API" "stage=$STAGE" "cost-center=$COST_CENTER" \
    --parameter-overrides "ImageDigest=$DIGEST" "Architecture=$ARCH" "${PARAMETERS[@]}" "$@"
}
deploy_app

# --- the web console (docs/DEPLOY.md "The web console") ----------------------------------------------
# What the stack says, one output a line (key, tab, value). A dry run's placeholders follow the flavour and
# EnableConsole, as the stack's outputs would.
TAB=$'\t'
NL=$'\n'
if [[ "$API" == rest ]]; then
  PLACEHOLDER="EndpointURL${TAB}https://<api>.execute-api.$REGION.amazonaws.com/api/"
else
  PLACEHOLDER="EndpointURL${TAB}https://<api>.execute-api.$REGION.amazonaws.com/"
  PLACEHOLDER+="${NL}AssistantStreamUrl${TAB}https://<stream>.lambda-url.$REGION.on.aws/assistant/stream"
fi
PLACEHOLDER+="${NL}AuthDomain${TAB}https://<domain>.auth.$REGION.amazoncognito.com"
PLACEHOLDER+="${NL}UserPoolClientId${TAB}<client-id>${NL}ApiScope${TAB}tasks-api/api"
CONSOLE_PLACEHOLDER="${NL}ConsoleUrl${TAB}https://<distribution>.cloudfront.net/"
CONSOLE_PLACEHOLDER+="${NL}ConsoleBucket${TAB}<console-bucket>${NL}ConsoleDistributionId${TAB}<distribution-id>"
for pair in "${PARAMETERS[@]}"; do
  case "$pair" in EnableConsole=false|UserPoolArn=?*) CONSOLE_PLACEHOLDER="" ;; esac  # no console, as the stack
done
PLACEHOLDER+="$CONSOLE_PLACEHOLDER"
OUTPUTS=$(capture "$PLACEHOLDER" aws cloudformation describe-stacks --region "$REGION" --stack-name "$STACK" \
  --query "Stacks[0].Outputs[].[OutputKey,OutputValue]" --output text)
output() {  # the value of the stack's output $1, or nothing
  local key value
  while IFS="$TAB" read -r key value; do
    if [[ "$key" == "$1" ]]; then printf '%s' "$value"; return; fi
  done <<<"$OUTPUTS"
}
json_string() { local text="${1//\\/\\\\}"; printf '"%s"' "${text//\"/\\\"}"; }

CONSOLE_URL="$(output ConsoleUrl)"
if [[ -n "$CONSOLE_URL" ]]; then
  # CloudFront names the distribution when it creates it, and the API's CORS and the app client's redirect
  # URLs must name it: the first deployment learns it from ConsoleUrl and passes it in (a quick update);
  # later ones find it allowed already.
  CONSOLE_ORIGIN="${CONSOLE_URL%/}"
  [[ "$(output AllowedConsoleOrigin)" == "$CONSOLE_ORIGIN" ]] || deploy_app "ConsoleOrigin=$CONSOLE_ORIGIN"

  # No build step, so no fingerprinted names: browsers revalidate every file on each load (a 304 from the
  # edge), the edge keeps it a day, and the invalidation below makes a deployment visible at once. One sync
  # per content type (S3 serves the type it was given), each deleting what console/ no longer has of it;
  # config.json is the stack's, written below.
  BUCKET="$(output ConsoleBucket)"
  CACHE_CONTROL="public, max-age=0, must-revalidate, s-maxage=86400"
  TYPED=(
    "*.html=text/html; charset=utf-8"
    "*.js=text/javascript; charset=utf-8"
    "*.mjs=text/javascript; charset=utf-8"
    "*.css=text/css; charset=utf-8"
    "*.json=application/json"
    "*.svg=image/svg+xml"
  )
  OTHERS=()
  for typed in "${TYPED[@]}"; do
    run aws s3 sync console/ "s3://$BUCKET/" --region "$REGION" --delete --exclude "*" --include "${typed%%=*}" \
      --exclude config.json --content-type "${typed#*=}" --cache-control "$CACHE_CONTROL"
    OTHERS+=(--exclude "${typed%%=*}")
  done
  run aws s3 sync console/ "s3://$BUCKET/" --region "$REGION" --delete "${OTHERS[@]}" --exclude config.json \
    --cache-control "$CACHE_CONTROL"

  # The page's configuration (docs/DEPLOY.md "The web console"): the API, the stream (the HTTP flavour's
  # function URL, else the API), the hosted UI, the app client, the scopes, the page itself.
  API_URL="$(output EndpointURL)"
  API_URL="${API_URL%/}"
  STREAM_URL="$(output AssistantStreamUrl)"
  STREAM_URL="${STREAM_URL%/assistant/stream}"  # chalicelib/vocabulary.py ASSISTANT_STREAM_PATH
  STREAM_URL="${STREAM_URL%/}"
  CONFIG="{\"apiUrl\": $(json_string "$API_URL"), \"streamUrl\": $(json_string "${STREAM_URL:-$API_URL}")"
  CONFIG+=", \"authority\": $(json_string "$(output AuthDomain)"), \"clientId\": $(json_string "$(output UserPoolClientId)")"
  CONFIG+=", \"scope\": $(json_string "openid $(output ApiScope)"), \"redirectUri\": $(json_string "$CONSOLE_URL")"
  CONFIG+=", \"logoutUri\": $(json_string "$CONSOLE_URL")}"
  UPLOAD=(aws s3 cp - "s3://$BUCKET/config.json" --region "$REGION" --content-type application/json
    --cache-control "$CACHE_CONTROL")
  printf "+ printf %%s '%s' | %s\n" "$CONFIG" "${UPLOAD[*]}"
  ((DRY_RUN)) || printf '%s' "$CONFIG" | "${UPLOAD[@]}"

  # Every path (one wildcard path: the first 1,000 a month are free).
  run aws cloudfront create-invalidation --distribution-id "$(output ConsoleDistributionId)" --paths "/*"
fi

run aws cloudformation describe-stacks --region "$REGION" --stack-name "$STACK" \
  --query "Stacks[0].Outputs" --output table
