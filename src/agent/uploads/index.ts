/**
 * Data uploads on the device (issue 17): the upload directories mounted
 * into Workloads' containers, and the uploader that sends their completed
 * files through the hub, resumably, without following links out of them.
 */
export { uploadDirOf, withUploadMounts } from './mounts.ts';
export { inWindow, Uploader, type UploaderOptions } from './uploader.ts';
