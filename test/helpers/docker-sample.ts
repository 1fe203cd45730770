/** docs/flannel.md, "Docker options": a subnet.env and what flannel's mk-docker-opts.sh writes for it. */
export const SAMPLE_ENV = "FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.74.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=false\n";
export const SAMPLE_OPTS =
  'DOCKER_OPT_BIP="--bip=10.1.74.1/24"\n' +
  'DOCKER_OPT_IPMASQ="--ip-masq=true"\n' +
  'DOCKER_OPT_MTU="--mtu=1472"\n' +
  'DOCKER_OPTS=" --bip=10.1.74.1/24 --ip-masq=true --mtu=1472"\n';
