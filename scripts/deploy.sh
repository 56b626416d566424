#!/usr/bin/env bash
# Deploy the stack: bootstrap the ECR repository, build and push the image, deploy the template, then
# upload the web console (console/ and its config.json) when the stack has one (EnableConsole).
# Needs `make package` first (make deploy runs it), the AWS CLI v2 and docker buildx.
#
#   scripts/deploy.sh [--dry-run] [--stack NAME] [--region REGION | --regions HOME,OTHER[,...]]
#                     [--arch arm64|x86_64] [--tag TAG] [--repository NAME] [--api rest|http]
#                     [Key=Value ...] [REGION:Key=Value ...]
#
# --api names the flavour dist/ must hold (make package API=...; default: whichever dist/api-flavour says).
# Key=Value pairs are stack parameters (docs/DEPLOY.md "Stack parameters"), e.g. EnableSqsIntegration=false
# AlarmEmail=ops@example.com. --regions deploys the same template to each region, the first (home: the
# global table's and the user pool's region) first, each the whole flow above (docs/DEPLOY.md "Two
# regions"); REGION:Key=Value pairs apply in that region only. --dry-run prints every command and runs none
# (values that only AWS knows, such as the account id, appear as <placeholders>).
set -euo pipefail
cd "$(dirname "$0")/.."

DRY_RUN=0
STACK="${STACK_NAME:-tasks-api}"
REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
REGION_GIVEN=0
REGIONS=""
ARCH="${ARCH:-arm64}"
TAG="${IMAGE_TAG:-}"
REPOSITORY="${ECR_REPOSITORY:-}"
DIST="${DIST:-dist}"
API=""
PARAMETERS=()  # Key=Value: every region
SCOPED=()      # REGION:Key=Value: that region only

usage() { sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; }  # the comment block above
while (($#)); do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --stack) STACK="$2"; shift ;;
    --region) REGION="$2"; REGION_GIVEN=1; shift ;;
    --regions) REGIONS="$2"; shift ;;
    --arch) ARCH="$2"; shift ;;
    --tag) TAG="$2"; shift ;;
    --repository) REPOSITORY="$2"; shift ;;
    --api) API="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    *=*) if [[ "${1%%=*}" == *:* ]]; then SCOPED+=("$1"); else PARAMETERS+=("$1"); fi ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

MAX_REGIONS=3  # the table's replicas: cloudformation/transforms/tables.py MAX_REGIONS
case "$ARCH" in arm64|x86_64) ;; *) echo "--arch must be arm64 or x86_64" >&2; exit 2 ;; esac
# The regions to deploy to, home first: --regions, else the one --region (or AWS_REGION) names.
if [[ -n "$REGIONS" ]]; then
  ((!REGION_GIVEN)) || { echo "give --region or --regions, not both" >&2; exit 2; }
  [[ "$REGIONS" =~ ^[^,]+(,[^,]+)*$ ]] || { echo "--regions: '$REGIONS' has an empty region" >&2; exit 2; }
  IFS=, read -r -a REGION_LIST <<<"$REGIONS"
  ((${#REGION_LIST[@]} <= MAX_REGIONS)) || { echo "--regions: at most $MAX_REGIONS regions" >&2; exit 2; }
  seen=" "
  for region in "${REGION_LIST[@]}"; do
    [[ "$region" =~ ^[a-z]{2}(-[a-z]+)+-[0-9]+$ ]] || { echo "--regions: '$region' is not a region" >&2; exit 2; }
    [[ "$seen" != *" $region "* ]] || { echo "--regions names $region twice" >&2; exit 2; }
    seen+="$region "
  done
  for pair in ${PARAMETERS[@]+"${PARAMETERS[@]}"} ${SCOPED[@]+"${SCOPED[@]#*:}"}; do
    case "$pair" in
      TableRegions=*|TableStreamArn=*) echo "--regions passes ${pair%%=*} itself; drop $pair" >&2; exit 2 ;;
    esac
  done
else
  [[ -n "$REGION" ]] || { echo "set --region, --regions or AWS_REGION" >&2; exit 2; }
  REGION_LIST=("$REGION")
fi
HOME_REGION="${REGION_LIST[0]}"
for pair in ${SCOPED[@]+"${SCOPED[@]}"}; do
  [[ " ${REGION_LIST[*]} " == *" ${pair%%:*} "* ]] || {
    echo "$pair: ${pair%%:*} is not a region this deploys to (${REGION_LIST[*]})" >&2; exit 2; }
done
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

TAB=$'\t'
NL=$'\n'
output() {  # the value of the output $1 in OUTPUTS (the last stack's, one a line: key, tab, value), or nothing
  local key value
  while IFS="$TAB" read -r key value; do
    if [[ "$key" == "$1" ]]; then printf '%s' "$value"; return; fi
  done <<<"$OUTPUTS"
}
json_string() { local text="${1//\\/\\\\}"; printf '"%s"' "${text//\"/\\\"}"; }

# The whole flow in one region: $1 the region, then the pairs the script adds there (after the caller's, and
# only those the caller's pairs do not name).
deploy_region() {
  local region="$1"; shift
  local pair named given
  local -a parameters=(${PARAMETERS[@]+"${PARAMETERS[@]}"})
  for pair in ${SCOPED[@]+"${SCOPED[@]}"}; do
    if [[ "${pair%%:*}" == "$region" ]]; then parameters+=("${pair#*:}"); fi
  done
  for pair in "$@"; do
    given=0
    for named in ${parameters[@]+"${parameters[@]}"}; do if [[ "${named%%=*}" == "${pair%%=*}" ]]; then given=1; fi; done
    ((given)) || parameters+=("$pair")
  done

  # The stage and cost center the Key=Value pairs name (the app stack's AppStage and CostCenter, whose
  # defaults these are): the bootstrap stack publishes the repository under the stage's SSM prefix and tags
  # it, and the app stack carries them as stack tags too, which CloudFormation hands to every resource that
  # takes tags: the event source mappings SAM generates included, which the template cannot tag itself.
  local stage=prod cost_center=tasks-api
  for pair in ${parameters[@]+"${parameters[@]}"}; do
    case "$pair" in
      AppStage=*) stage="${pair#AppStage=}" ;;
      CostCenter=*) cost_center="${pair#CostCenter=}" ;;
    esac
  done
  local ssm_prefix="/tasks-api/$stage"  # chalicelib/vocabulary.py SSM_PREFIX

  run aws cloudformation deploy --region "$region" --stack-name "$STACK-bootstrap" \
    --template-file cloudformation/bootstrap.yaml \
    --parameter-overrides "RepositoryName=$REPOSITORY" "AppStage=$stage" "CostCenter=$cost_center" \
    --no-fail-on-empty-changeset

  # What the bootstrap stack published (SSM, not its outputs: docs/DEPLOY.md "What the stacks exchange").
  # Each region has its own repository: Lambda runs images from its own region's ECR only.
  local repository_uri registry digest
  repository_uri=$(capture "<account>.dkr.ecr.$region.amazonaws.com/$REPOSITORY" \
    aws ssm get-parameter --region "$region" --name "$ssm_prefix/image/repository-uri" \
    --query Parameter.Value --output text)
  registry="${repository_uri%%/*}"

  printf '+ %s | %s\n' "aws ecr get-login-password --region $region" \
    "docker login --username AWS --password-stdin $registry"
  ((DRY_RUN)) || aws ecr get-login-password --region "$region" | docker login --username AWS --password-stdin "$registry"

  # --provenance=false: Lambda accepts a single-platform image manifest, not an attestation index.
  run docker buildx build --platform "$PLATFORM" --build-arg "ARCH=$ARCH" --provenance=false \
    --tag "$repository_uri:$TAG" --push "$DIST/image"

  digest=$(capture "sha256:<digest>" \
    aws ecr describe-images --region "$region" --repository-name "$REPOSITORY" --image-ids "imageTag=$TAG" \
    --query "imageDetails[0].imageDigest" --output text)

  # Outside the home region the table is the global table's replica there, which the home region's deploy
  # created: its stream (each replica has its own) feeds this region's forwarder.
  if [[ -n "$REGIONS" && "$region" != "$HOME_REGION" ]]; then
    local stream
    stream=$(capture "arn:aws:dynamodb:$region:<account>:table/$STACK-tasks/stream/<stream-label>" \
      aws dynamodb describe-table --region "$region" --table-name "$STACK-tasks" \
      --query Table.LatestStreamArn --output text)
    [[ "$stream" == arn:* ]] || { echo "$region: $STACK-tasks has no stream ($stream)" >&2; exit 1; }
    parameters+=("TableStreamArn=$stream")
  fi

  # A created private network sends the functions' HTTPS to DynamoDB's prefix list only, whose id only EC2
  # knows (docs/DEPLOY.md "Private network").
  local network="" prefix_list_given=0
  for pair in ${parameters[@]+"${parameters[@]}"}; do
    case "$pair" in
      PrivateNetwork=*) network="${pair#PrivateNetwork=}" ;;
      DynamoDBPrefixListId=*) prefix_list_given=1 ;;
    esac
  done
  if [[ "$network" == created ]] && ((!prefix_list_given)); then
    local prefix_list
    prefix_list=$(capture "pl-<dynamodb>" aws ec2 describe-managed-prefix-lists --region "$region" \
      --filters "Name=prefix-list-name,Values=com.amazonaws.$region.dynamodb" \
      --query "PrefixLists[0].PrefixListId" --output text)
    parameters+=("DynamoDBPrefixListId=$prefix_list")
  fi

  # The stack reads the repository from the same SSM parameter; the digest pins the image just pushed.
  # Parameters not given keep the values the stack has (aws cloudformation deploy), ConsoleOrigin among them.
  # The version behind the API and streaming functions' alias `live` (which the integrations call with
  # provisioned concurrency on) is named by this hash, which replaces SAM's own: so it hashes everything SAM's
  # did (the template) and what SAM's does not see (the image digest, every pair passed), and any change of
  # them publishes a version (docs/DEPLOY.md "Provisioned concurrency"). The same deployment again hashes the
  # same: nothing new is published.
  deploy_app() {
    local -a pairs=("ImageDigest=$digest" "Architecture=$ARCH" ${parameters[@]+"${parameters[@]}"} "$@")
    local named given=0
    for named in "${pairs[@]}"; do if [[ "${named%%=*}" == FunctionVersionHash ]]; then given=1; fi; done
    ((given)) || pairs+=("FunctionVersionHash=$( { printf '%s\n' "${pairs[@]}"; cat "$DIST/template.yaml"; } |
      git hash-object --stdin | cut -c1-16)")
    run aws cloudformation deploy --region "$region" --stack-name "$STACK" \
      --template-file "$DIST/template.yaml" \
      --capabilities CAPABILITY_NAMED_IAM CAPABILITY_AUTO_EXPAND \
      --no-fail-on-empty-changeset \
      --tags app=tasks-api "api=$API" "stage=$stage" "cost-center=$cost_center" \
      --parameter-overrides "${pairs[@]}"
  }
  deploy_app

  # --- the web console (docs/DEPLOY.md "The web console") --------------------------------------------
  # What the stack says, one output a line (key, tab, value). A dry run's placeholders follow the flavour,
  # the user pool and EnableConsole, as the stack's outputs would.
  local placeholder own_pool=1 console=1
  for pair in ${parameters[@]+"${parameters[@]}"}; do
    case "$pair" in
      EnableConsole=false) console=0 ;;
      UserPoolArn=?*) own_pool=0; console=0 ;;  # the console signs in with the stack's own pool only
    esac
  done
  if [[ "$API" == rest ]]; then
    placeholder="EndpointURL${TAB}https://<api>.execute-api.$region.amazonaws.com/api/"
  else
    placeholder="EndpointURL${TAB}https://<api>.execute-api.$region.amazonaws.com/"
    placeholder+="${NL}AssistantStreamUrl${TAB}https://<stream>.lambda-url.$region.on.aws/assistant/stream"
  fi
  placeholder+="${NL}UserPoolArn${TAB}arn:aws:cognito-idp:$HOME_REGION:<account>:userpool/<user-pool-id>"
  if ((own_pool)); then
    placeholder+="${NL}AuthDomain${TAB}https://<domain>.auth.$region.amazoncognito.com"
    placeholder+="${NL}UserPoolClientId${TAB}<client-id>${NL}ApiScope${TAB}tasks-api/api"
  fi
  if ((console)); then
    placeholder+="${NL}ConsoleUrl${TAB}https://<distribution>.cloudfront.net/"
    placeholder+="${NL}ConsoleBucket${TAB}<console-bucket>${NL}ConsoleDistributionId${TAB}<distribution-id>"
  fi
  OUTPUTS=$(capture "$placeholder" aws cloudformation describe-stacks --region "$region" --stack-name "$STACK" \
    --query "Stacks[0].Outputs[].[OutputKey,OutputValue]" --output text)

  local console_url
  console_url="$(output ConsoleUrl)"
  if [[ -n "$console_url" ]]; then
    # CloudFront names the distribution when it creates it, and the API's CORS and the app client's redirect
    # URLs must name it: the first deployment learns it from ConsoleUrl and passes it in (a quick update);
    # later ones find it allowed already.
    local console_origin="${console_url%/}"
    [[ "$(output AllowedConsoleOrigin)" == "$console_origin" ]] || deploy_app "ConsoleOrigin=$console_origin"

    # No build step, so no fingerprinted names: browsers revalidate every file on each load (a 304 from the
    # edge), the edge keeps it a day, and the invalidation below makes a deployment visible at once. One sync
    # per content type (S3 serves the type it was given), each deleting what console/ no longer has of it;
    # config.json is the stack's, written below.
    local bucket typed cache_control="public, max-age=0, must-revalidate, s-maxage=86400"
    bucket="$(output ConsoleBucket)"
    local -a types=(
      "*.html=text/html; charset=utf-8"
      "*.js=text/javascript; charset=utf-8"
      "*.mjs=text/javascript; charset=utf-8"
      "*.css=text/css; charset=utf-8"
      "*.json=application/json"
      "*.svg=image/svg+xml"
    )
    local -a others=()
    for typed in "${types[@]}"; do
      run aws s3 sync console/ "s3://$bucket/" --region "$region" --delete --exclude "*" --include "${typed%%=*}" \
        --exclude config.json --content-type "${typed#*=}" --cache-control "$cache_control"
      others+=(--exclude "${typed%%=*}")
    done
    run aws s3 sync console/ "s3://$bucket/" --region "$region" --delete "${others[@]}" --exclude config.json \
      --cache-control "$cache_control"

    # The page's configuration (docs/DEPLOY.md "The web console"): the API, the stream (the HTTP flavour's
    # function URL, else the API), the hosted UI, the app client, the scopes, the page itself.
    local api_url stream_url config
    api_url="$(output EndpointURL)"
    api_url="${api_url%/}"
    stream_url="$(output AssistantStreamUrl)"
    stream_url="${stream_url%/assistant/stream}"  # chalicelib/vocabulary.py ASSISTANT_STREAM_PATH
    stream_url="${stream_url%/}"
    config="{\"apiUrl\": $(json_string "$api_url"), \"streamUrl\": $(json_string "${stream_url:-$api_url}")"
    config+=", \"authority\": $(json_string "$(output AuthDomain)"), \"clientId\": $(json_string "$(output UserPoolClientId)")"
    config+=", \"scope\": $(json_string "openid $(output ApiScope)"), \"redirectUri\": $(json_string "$console_url")"
    config+=", \"logoutUri\": $(json_string "$console_url")}"
    local -a upload=(aws s3 cp - "s3://$bucket/config.json" --region "$region" --content-type application/json
      --cache-control "$cache_control")
    printf "+ printf %%s '%s' | %s\n" "$config" "${upload[*]}"
    ((DRY_RUN)) || printf '%s' "$config" | "${upload[@]}"

    # Every path (one wildcard path: the first 1,000 a month are free).
    run aws cloudfront create-invalidation --distribution-id "$(output ConsoleDistributionId)" --paths "/*"
  fi

  run aws cloudformation describe-stacks --region "$region" --stack-name "$STACK" \
    --query "Stacks[0].Outputs" --output table
}

if [[ -z "$REGIONS" ]]; then
  deploy_region "$REGION"
  exit 0
fi

# Several regions (docs/DEPLOY.md "Two regions"): the home region first, which creates the global table with a
# replica in every listed region and the user pool; then the others, each told the list (TableRegions), its
# replica's stream (deploy_region looks it up) and the home stack's pool: a user pool is regional, and every
# region must accept the tokens it issues.
echo "== $HOME_REGION (home)" >&2
deploy_region "$HOME_REGION" "TableRegions=$REGIONS"
POOL=()
for pair in "UserPoolArn=$(output UserPoolArn)" "UserPoolClientIds=$(output UserPoolClientId)" "ApiScope=$(output ApiScope)"; do
  if [[ -n "${pair#*=}" ]]; then POOL+=("$pair"); fi
done
for region in ${REGION_LIST[@]+"${REGION_LIST[@]:1}"}; do
  echo "== $region" >&2
  deploy_region "$region" "TableRegions=$REGIONS" ${POOL[@]+"${POOL[@]}"}
done
