/**
 * Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`): the `k8s\0` envelope
 * and the messages of the kinds served, decoded to the JSON object they stand for. Decoding only:
 * answers are JSON, YAML or tables.
 */
export {
  decodeKubernetesProtobuf,
  KUBERNETES_PROTOBUF,
  ProtobufMalformedError,
  ProtobufUnsupportedError,
} from './decode.ts';
